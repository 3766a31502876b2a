module khz/benchmark/peers/go

go 1.19
