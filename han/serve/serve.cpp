#include "han/serve/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <filesystem>
#include <future>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "han/base/error.h"
#include "han/data/data.h"
#include "han/infer/infer.h"
#include "han/report/report.h"
#include "han/serve/request.h"

namespace han {

struct Batcher::Job {
  const std::vector<Document>* documents = nullptr;
  bool explain = false;
  std::vector<Prediction> predictions;
  std::vector<Explanation> explanations;
  std::exception_ptr error;
  std::promise<void> done;
};

Batcher::Batcher(const Predictor& predictor, int workers, int max_batch_documents, std::chrono::microseconds max_delay)
    : predictor_(predictor),
      max_batch_documents_(static_cast<size_t>(std::max(1, max_batch_documents))),
      max_delay_(max_delay) {
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { work(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void Batcher::run_job(Job& job) {
  std::future<void> done = job.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(&job);
  }
  // All: the one woken may be filling a batch this job cannot join.
  queued_.notify_all();
  done.get();
  if (job.error) std::rethrow_exception(job.error);
}

std::vector<Prediction> Batcher::predict(const std::vector<Document>& documents) {
  Job job;
  job.documents = &documents;
  run_job(job);
  return std::move(job.predictions);
}

std::vector<Explanation> Batcher::explain(const std::vector<Document>& documents) {
  Job job;
  job.documents = &documents;
  job.explain = true;
  run_job(job);
  return std::move(job.explanations);
}

void Batcher::work() {
  for (;;) {
    std::vector<Job*> jobs;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      jobs.push_back(queue_.front());
      queue_.pop_front();
      size_t documents = jobs[0]->documents->size();
      const bool explain = jobs[0]->explain;
      // Take the requests of the same kind that arrive within the delay.
      const auto deadline = std::chrono::steady_clock::now() + max_delay_;
      while (documents < max_batch_documents_) {
        if (!queue_.empty()) {
          Job* next = queue_.front();
          if (next->explain != explain || documents + next->documents->size() > max_batch_documents_) break;
          queue_.pop_front();
          jobs.push_back(next);
          documents += next->documents->size();
          continue;
        }
        if (stopping_ || queued_.wait_until(lock, deadline) == std::cv_status::timeout) break;
      }
    }
    // Whatever fails (bad_alloc included) goes to every waiting request.
    std::exception_ptr error;
    try {
      std::vector<Document> batch;
      for (Job* job : jobs) batch.insert(batch.end(), job->documents->begin(), job->documents->end());
      std::vector<Prediction> predictions;
      std::vector<Explanation> explanations;
      if (jobs[0]->explain) {
        explanations = predictor_.explain(batch);
      } else {
        predictions = predictor_.predict(batch);
      }
      size_t at = 0;
      for (Job* job : jobs) {
        const auto begin = static_cast<std::ptrdiff_t>(at);
        const auto end = static_cast<std::ptrdiff_t>(at + job->documents->size());
        if (job->explain) {
          job->explanations.assign(std::make_move_iterator(explanations.begin() + begin),
                                   std::make_move_iterator(explanations.begin() + end));
        } else {
          job->predictions.assign(predictions.begin() + begin, predictions.begin() + end);
        }
        at = static_cast<size_t>(end);
      }
    } catch (...) {
      error = std::current_exception();
    }
    for (Job* job : jobs) {
      job->error = error;
      job->done.set_value();
    }
  }
}

namespace {

using nlohmann::json;

// What the log line needs, kept per HTTP thread: httplib serves each request
// on one thread, from routing to the logger.
thread_local std::chrono::steady_clock::time_point request_start;
thread_local size_t request_documents = 0;
thread_local bool request_routed = false;  // false for requests httplib refused before routing

// A path as sent, with control characters shown as '?': a decoded "%0A" must
// not start a forged log line.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// SIGTERM and SIGINT may land on any thread (LibTorch's pools predate
// serve()), so the handler only writes the signal number to a pipe that the
// watcher thread reads.
int stop_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int signal) {
  const int saved_errno = errno;
  const unsigned char byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const ssize_t written = ::write(stop_pipe[1], &byte, 1);
  errno = saved_errno;
}

// Owns the signal handlers, the pipe and the watcher thread; the destructor
// wakes the watcher, joins it and puts the previous handlers back, however
// serve() leaves. The watcher stops the server once it runs: a signal that
// lands before listen_after_bind() has marked it running is not lost.
class StopOnSignal {
 public:
  StopOnSignal(httplib::Server& server, const std::function<void(const std::string&)>& log) : server_(server) {
    if (::pipe(stop_pipe) != 0) throw SystemError("serve: cannot create a pipe");
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESTART;  // other threads' blocking calls carry on
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &previous_term_);
    sigaction(SIGINT, &action, &previous_int_);
    watcher_ = std::thread([this, &log] {
      unsigned char signal = 0;
      while (::read(stop_pipe[0], &signal, 1) < 0 && errno == EINTR) {
      }
      if (signal == 0) return;  // the server stopped by itself
      if (log) {
        try {
          log(fmt::format("{}: finishing the requests being answered", signal == SIGTERM ? "SIGTERM" : "SIGINT"));
        } catch (...) {
        }
      }
      while (!finished_.load()) {
        if (server_.is_running()) {
          server_.stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ~StopOnSignal() {
    finished_ = true;
    const unsigned char none = 0;
    [[maybe_unused]] const ssize_t written = ::write(stop_pipe[1], &none, 1);
    watcher_.join();
    sigaction(SIGTERM, &previous_term_, nullptr);
    sigaction(SIGINT, &previous_int_, nullptr);
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  httplib::Server& server_;
  struct sigaction previous_term_ {
  }, previous_int_{};
  std::atomic<bool> finished_{false};
  std::thread watcher_;
};

void reply(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// The prediction object of `han classify --json` and the Python module
// (labels, empty, truncated), with the id, and every label's probability.
json classification_to_json(const Prediction& prediction, const Document& document, const LabelSet& labels) {
  json probabilities = json::object();
  for (int64_t i = 0; i < labels.size(); ++i)
    probabilities[labels.name(i)] = prediction.probabilities[static_cast<size_t>(i)];
  json result = prediction_to_json(prediction, labels, 1, 0.0f);
  result["id"] = document.origin;
  result["label"] = prediction.empty ? json(nullptr) : json(labels.name(prediction.label));
  result["confidence"] = prediction.probabilities[static_cast<size_t>(prediction.label)];
  result["probabilities"] = probabilities;
  return result;
}

std::vector<std::string> content_lengths(const httplib::Request& request) {
  std::vector<std::string> lengths;
  const auto [first, last] = request.headers.equal_range("Content-Length");  // names compare case-insensitively
  for (auto it = first; it != last; ++it) lengths.push_back(it->second);
  return lengths;
}

// httplib answers 404 for a known path with another method, and 400 for a
// method it does not know: both are 405, with the methods that work.
void answer_wrong_method(const httplib::Request& request, httplib::Response& response) {
  static const std::set<std::string> kHttplibMethods = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                                        "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
  std::string allow;
  if (response.status == 404) {
    allow = allowed_methods(request.path);
  } else if (response.status == 400 && request.path.empty() && !request.target.empty() &&
             (request.version == "HTTP/1.1" || request.version == "HTTP/1.0") &&
             !kHttplibMethods.count(request.method)) {
    // The request line parsed but for its method, so httplib never split off the path.
    allow = allowed_methods(request.target.substr(0, request.target.find('?')));
    if (allow.empty()) allow = "GET, HEAD, POST";
    // Its body, if any, was not read.
    if (request.get_header_value("Connection") != "close") response.set_header("Connection", "close");
  }
  if (allow.empty()) return;
  response.status = 405;
  response.set_header("Allow", allow);
}

std::string status_text(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 413:
      return "request too large";
    case 414:
      return "the request line is too long";
    case 415:
      return "unsupported media type";
    case 422:
      return "unusable request";
    default:
      return status >= 500 ? "internal error" : "error";
  }
}

// The request body, read here rather than by httplib: its own reading caps at
// --max-body only bodies that declare a Content-Length (a chunked one grew
// without bound in memory), and refuses form-encoded bodies over 8 KB, which
// is what `curl -d` sends, whatever --max-body says.
std::string read_body(const httplib::Request& request, httplib::Response& response,
                      const httplib::ContentReader& reader, size_t max_bytes) {
  if (request.is_multipart_form_data()) {
    // Read to its end (and dropped) first, or its bytes would be parsed as
    // the connection's next requests.
    reader([](const httplib::MultipartFormData&) { return true; }, [](const char*, size_t) { return true; });
    throw RequestError(415, "multipart/form-data is not read: send the JSON object itself as the body");
  }
  std::string body;
  bool too_large = false;
  // Past the limit the rest is read and dropped, as httplib drops a body over
  // the limit with a Content-Length: stopping mid-body would leave its bytes
  // to be parsed as the connection's next requests.
  const bool complete = reader([&](const char* data, size_t length) {
    too_large = too_large || body.size() + length > max_bytes;
    if (!too_large) body.append(data, length);
    return true;
  });
  // httplib sets 413 itself when a Content-Length over the limit is refused unread.
  if (too_large || response.status == 413) {
    throw RequestError(413, fmt::format("the body is larger than the {} bytes allowed (--max-body)", max_bytes));
  }
  if (!complete) {  // httplib may have said why (e.g. 400 for a damaged gzip body)
    throw RequestError(response.status > 0 ? response.status : 400,
                       "the body could not be read (a broken chunked or compressed encoding, or the client went "
                       "away)");
  }
  return body;
}

}  // namespace

void serve(const Model& model, const std::string& model_path, const ServeOptions& options,
           const std::function<void(int port)>& on_listening) {
  Predictor predictor(model, options.max_batch_documents, 1, options.device);
  json model_info = describe_model(model);
  model_info["model"] = std::filesystem::path(model_path).filename().string();
  const std::string page = render_service_page(
      "han: paste a document",
      fmt::format("model {}: {}", model_info["model"].get<std::string>(), fmt::join(model.labels.names(), ", ")));

  httplib::Server server;
  server.new_task_queue = [threads = options.http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(std::max(1, threads)));
  };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_keep_alive_max_count(1000);
  // httplib's default adds SO_REUSEPORT, which lets a second server share a
  // taken port in silence; a taken port must be an error.
  int listening_socket = -1;
  server.set_socket_options([&listening_socket](socket_t socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listening_socket = socket;
  });

  std::optional<Batcher> batcher;
  batcher.emplace(predictor, options.batch_workers, options.max_batch_documents,
                  std::chrono::microseconds(options.max_delay_us));

  server.set_pre_routing_handler([](const httplib::Request& request, httplib::Response& response) {
    request_start = std::chrono::steady_clock::now();
    request_documents = 0;
    request_routed = true;
    if (const std::string error = framing_error(content_lengths(request), request.has_header("Transfer-Encoding"));
        !error.empty()) {
      // The body's end is unknown: the connection cannot carry another request.
      if (request.get_header_value("Connection") != "close") response.set_header("Connection", "close");
      reply(response, 400, {{"error", error}});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const auto documents_handler = [&](bool explain) {
    return [&, explain](const httplib::Request& request, httplib::Response& response,
                        const httplib::ContentReader& reader) {
      try {
        const std::string body = read_body(request, response, reader, options.max_body_bytes);
        const auto documents = parse_documents_request(body, options.max_documents);
        request_documents = documents.size();
        json results = json::array();
        if (explain) {
          const auto explanations = batcher->explain(documents);
          for (size_t i = 0; i < documents.size(); ++i) {
            json object = explanation_to_json(explanations[i], documents[i], model.labels);
            object["id"] = documents[i].origin;
            results.push_back(std::move(object));
          }
        } else {
          const auto predictions = batcher->predict(documents);
          for (size_t i = 0; i < documents.size(); ++i) {
            results.push_back(classification_to_json(predictions[i], documents[i], model.labels));
          }
        }
        reply(response, 200, {{"model", model_info["model"]}, {"results", std::move(results)}});
      } catch (const RequestError& e) {
        reply(response, e.status(), {{"error", e.what()}});
      }
    };
  };
  server.Post("/v1/classify", documents_handler(false));
  server.Post("/v1/explain", documents_handler(true));
  server.Get("/v1/model",
             [&](const httplib::Request&, httplib::Response& response) { reply(response, 200, model_info); });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, {{"status", "ok"}});
  });
  server.Get("/", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(page, "text/html; charset=utf-8");
  });
  // Every error answers JSON; bodies over the limit are never held in memory.
  server.set_error_handler([&](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    answer_wrong_method(request, response);
    std::string message = status_text(response.status);
    if (response.status == 405) {
      message = fmt::format("{} is not answered at {}: use {}", request.method,
                            request.path.empty() ? request.target : request.path, response.get_header_value("Allow"));
    } else if (response.status == 413) {
      message = fmt::format("the body is larger than the {} bytes allowed (--max-body)", options.max_body_bytes);
    } else if (response.status == 404) {
      message = fmt::format("no such endpoint: {} {} (try GET /, GET /v1/model, POST /v1/classify, POST /v1/explain)",
                            request.method, request.path);
    }
    reply(response, response.status, {{"error", message}});
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, const std::exception_ptr& error) {
        std::string message = "internal error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          message = fmt::format("internal error: {}", e.what());
        } catch (...) {
        }
        reply(response, 500, {{"error", message}});
      });
  if (options.log) {
    // httplib calls the logger outside its own try: nothing may escape.
    server.set_logger([&log = options.log](const httplib::Request& request, const httplib::Response& response) {
      try {
        if (request_routed) {
          const double ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start).count();
          log(fmt::format("{} {} {} {} docs {:.1f} ms", printable(request.method), printable(request.path),
                          response.status, request_documents, ms));
        } else {
          log(fmt::format("{} {} {} - docs - ms", printable(request.method), printable(request.path), response.status));
        }
      } catch (...) {
      }
      request_routed = false;
    });
  }

  const int port = options.port == 0 ? server.bind_to_any_port(options.host)
                                     : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    throw SystemError(
        fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", options.host, options.port));
  }
  // Debian's httplib listens with a backlog of 5: when many clients connect
  // at once the rest are dropped and retried after seconds (measured: 13 of
  // 5,000 requests over 2 s under 64 new connections). Linux lets listen()
  // raise the backlog of a listening socket.
  if (listening_socket >= 0) ::listen(listening_socket, SOMAXCONN);
  {
    StopOnSignal stop_on_signal(server, options.log);
    on_listening(port);
    server.listen_after_bind();  // returns after stop(), once the requests being handled are answered
  }
  batcher.reset();
}

}  // namespace han
