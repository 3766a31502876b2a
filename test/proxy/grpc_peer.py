#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# gRPC on both sides of the reverse proxy (python3-grpcio, no generated code: methods on raw
# bytes).
#   grpc_peer.py server       prints its port, serves until killed
#   grpc_peer.py client HOST:PORT   calls every method through HOST:PORT, prints one line each
# Methods of service test.Echo: Echo (unary: the request reversed, with the caller's
# x-lane metadata echoed in the initial metadata and a trailer), Count (server streaming: n
# messages for a request "n"), Fail (unary: NOT_FOUND with details), Sum (client streaming).
import sys
from concurrent import futures

import grpc


def echo(request, context):
    lane = dict(context.invocation_metadata()).get("x-lane", "")
    context.send_initial_metadata((("x-lane-seen", lane),))
    context.set_trailing_metadata((("x-served-by", "python"),))
    return request[::-1]


def count(request, context):
    for i in range(int(request.decode())):
        yield ("message %d" % i).encode()


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def total(request_iterator, context):
    return str(sum(int(r.decode()) for r in request_iterator)).encode()


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Sum": grpc.stream_unary_rpc_method_handler(total),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def client(address):
    with grpc.insecure_channel(address) as channel:
        echo_call = channel.unary_unary("/test.Echo/Echo")
        reply, call = echo_call.with_call(b"hello grpc", metadata=(("x-lane", "dev"),), timeout=5)
        initial = dict(call.initial_metadata())
        trailing = dict(call.trailing_metadata())
        print("echo %s lane=%s served-by=%s" % (reply.decode(), initial.get("x-lane-seen"), trailing.get("x-served-by")))
        big = b"x" * (1 << 20)
        print("echo-big %d" % len(echo_call(big, timeout=10)))
        messages = list(channel.unary_stream("/test.Echo/Count")(b"5", timeout=5))
        print("count " + ",".join(m.decode() for m in messages))
        try:
            channel.unary_unary("/test.Echo/Fail")(b"widget", timeout=5)
            print("fail: no error")
        except grpc.RpcError as e:
            print("fail %s %s" % (e.code().name, e.details()))
        total_call = channel.stream_unary("/test.Echo/Sum")
        print("sum " + total_call(iter([b"1", b"2", b"39"]), timeout=5).decode())


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        client(sys.argv[2])
