// Inference as an HTTP service (han serve): a JSON API and a page to paste
// text into, on Boost.Beast. The model is shared read-only; requests that
// arrive together are batched. docs/SERVE.md documents the endpoints.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "han/infer/infer.h"
#include "han/model/model.h"

namespace han {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port
  int http_threads = 64;               // requests computed at once (connections hold none); 4x as many may wait
  int batch_workers = 1;               // batches computed at once
  torch::Device device = torch::kCPU;  // where batches run (a GPU: LibTorch's modules)
  int max_batch_documents = 64;        // documents merged into one batch at most
  int max_delay_us = 2000;             // how long a batch waits for more requests
  size_t max_body_bytes = 1 << 20;     // larger bodies get 413
  size_t max_documents = 64;           // per request; more get 413
  // Requests other than GET / and /healthz must carry "Authorization: Bearer
  // api_key" (401 otherwise); empty: no key.
  std::string api_key;
  int read_timeout_s = 10;     // to send a request header (also the idle keep-alive limit); 3x for the body
  int max_connections = 1024;  // open at once; more are answered 503 and closed
  // Where the service's log lines go (one per request, and the signal that
  // stopped it), without a newline; empty: no log. Called from the server's
  // threads, one line at a time; it must not throw.
  std::function<void(const std::string& line)> log;
};

// Merges the documents of requests that arrive together into batches and
// runs them on `workers` threads. Thread-safe; the destructor finishes what
// is queued.
class Batcher {
 public:
  Batcher(const Predictor& predictor, int workers, int max_batch_documents, std::chrono::microseconds max_delay);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Block until the documents' batch has run.
  std::vector<Prediction> predict(const std::vector<Document>& documents);
  std::vector<Explanation> explain(const std::vector<Document>& documents);

 private:
  struct Job;
  void run_job(Job& job);
  void work();

  const Predictor& predictor_;
  const size_t max_batch_documents_;
  const std::chrono::microseconds max_delay_;
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Serves until SIGTERM or SIGINT, then answers the requests being handled
// and returns (idle connections are closed). One serve() per process at a
// time: the signal handlers are process-wide. `on_listening(port)` runs once
// the socket is bound. Throws SystemError when the address cannot be bound.
void serve(const Model& model, const std::string& model_path, const ServeOptions& options,
           const std::function<void(int port)>& on_listening);

}  // namespace han
