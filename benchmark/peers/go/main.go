// SPDX-License-Identifier: Apache-2.0

// go-bench-server is the Go net/http peer for benchmark/run.sh: the same routes as
// khz-bench-server, on one P (GOMAXPROCS=1), standard library only.
//
//	GET /plaintext   -> "Hello, World!" (text/plain)
//	GET /json        -> {"message":"Hello, World!"}, encoding/json per request
//	GET|POST /echo   -> the request body
//
// Usage: go-bench-server [-port N]
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"runtime"
	"strconv"
)

type message struct {
	Message string `json:"message"`
}

var helloWorld = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", "13")
	w.Write(helloWorld)
}

func jsonHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(message{Message: "Hello, World!"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func echo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func main() {
	port := flag.Int("port", 8080, "TCP port to listen on (all addresses)")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonHandler)
	mux.HandleFunc("/echo", echo)
	server := &http.Server{Addr: ":" + strconv.Itoa(*port), Handler: mux}
	log.Fatal(server.ListenAndServe())
}
