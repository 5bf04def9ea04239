#include "han/serve/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The HTTP layer's own limits (docs/SERVE.md). A connection has
// --read-timeout to send a whole request header, from its opening or from
// the previous answer (so it is also the idle keep-alive limit), then three
// times that for the body: a client sending a byte a second holds nothing
// for long.
constexpr auto kWriteDeadline = std::chrono::seconds(30);
constexpr auto kLingerDeadline = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 64 << 20;
constexpr uint32_t kHeaderBytes = 16 * 1024;  // request line and fields, in all
constexpr size_t kHeaderFields = 100;
constexpr size_t kTargetBytes = 8 * 1024;
constexpr int kIoThreads = 2;  // they only read, write and route: computing runs elsewhere

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

// Owns the signal handlers, the pipe and the watcher thread, which calls
// `stop` on the first signal; the destructor wakes the watcher, joins it and
// puts the previous handlers back, however serve() leaves.
class StopOnSignal {
 public:
  StopOnSignal(std::function<void()> stop, const std::function<void(const std::string&)>& log) {
    if (::pipe(stop_pipe) != 0) throw SystemError("serve: cannot create a pipe");
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESTART;  // other threads' blocking calls carry on
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &previous_term_);
    sigaction(SIGINT, &action, &previous_int_);
    watcher_ = std::thread([stop = std::move(stop), &log] {
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
      stop();
    });
  }
  ~StopOnSignal() {
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
  struct sigaction previous_term_ {
  }, previous_int_{};
  std::thread watcher_;
};

// A path as sent, with control characters shown as '?': a decoded "%0A" must
// not start a forged log line.
std::string printable(std::string_view text) {
  constexpr size_t kShown = 200;  // a long target would flood the log
  std::string out(text.substr(0, kShown));
  if (text.size() > kShown) out += "...";
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// Boost 1.74's Beast has its own string_view.
std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The prediction object of `han classify --json` and the Python module
// (labels, empty, truncated), with the id, and every label's probability.
json classification_to_json(const Prediction& prediction, const Document& document, const LabelSet& labels) {
  json probabilities = json::object();
  for (int64_t i = 0; i < labels.size(); ++i)
    probabilities[labels.name(i)] = prediction.probabilities[static_cast<size_t>(i)];
  // A multi-label model answers every label over its threshold.
  json result = prediction_to_json(prediction, labels, prediction.multi_label ? 0 : 1, 0.0f);
  result["id"] = document.origin;
  result["label"] = prediction.empty ? json(nullptr) : json(labels.name(prediction.label));
  result["confidence"] = prediction.probabilities[static_cast<size_t>(prediction.label)];
  result["probabilities"] = probabilities;
  return result;
}

// Why a request could not be read, for the errors Beast reports while
// parsing: the status and message to answer, or 0 to close without one
// (the client went away or timed out).
std::pair<int, std::string> read_failure(const beast::error_code& ec, size_t max_body_bytes) {
  if (ec == http::error::body_limit) {
    return {413, fmt::format("the body is larger than the {} bytes allowed (--max-body)", max_body_bytes)};
  }
  if (ec == http::error::header_limit) {
    return {431, fmt::format("the request header is larger than the {} bytes allowed", kHeaderBytes)};
  }
  if (ec == http::error::bad_content_length) {
    return {400, "Content-Length is repeated, conflicting or not a decimal number: send exactly one"};
  }
  if (ec == http::error::bad_transfer_encoding) {
    return {400, "Transfer-Encoding is not chunked, or comes beside a Content-Length: send one of them"};
  }
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
    return {400, "the body could not be read (a broken chunked encoding)"};
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category() && ec != http::error::end_of_stream &&
      ec != http::error::partial_message && ec != http::error::need_more) {
    return {400, fmt::format("malformed request ({})", ec.message())};
  }
  return {0, ""};
}

class Session;

// What every connection shares: the model's answers, the limits, the pool
// that runs requests, and the list of open connections for a clean stop.
struct Service {
  const ServeOptions& options;
  const Model& model;
  Batcher& batcher;
  json model_info;
  std::string page;
  net::thread_pool& requests;      // parses bodies and waits for the batcher
  std::atomic<size_t> waiting{0};  // requests given to `requests` and not yet answered
  size_t max_waiting = 0;          // more get 503
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex{};
  std::map<const Session*, std::weak_ptr<Session>> sessions{};

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  size_t open_sessions() {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    return sessions.size();
  }
};

// One connection: read a request header, check it, read its body, answer,
// and again while the client keeps the connection alive. Every step runs on
// the connection's strand; computing runs on Service::requests.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Service& service) : stream_(std::move(socket)), service_(service) {}
  ~Session() {
    std::lock_guard<std::mutex> lock(service_.sessions_mutex);
    service_.sessions.erase(this);
  }

  void start() {
    {
      std::lock_guard<std::mutex> lock(service_.sessions_mutex);
      service_.sessions[this] = weak_from_this();
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // Past --max-connections: 503 before reading anything, then closed.
  void refuse(const std::string& message) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), message] {
      self->keep_alive_ = false;
      self->answer(503, error_body(message));
    });
  }

  // On stop: a connection waiting for its next request is closed; one being
  // answered closes after its answer.
  void stop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->stream_.cancel();
    });
  }

 private:
  void read_header() {
    if (service_.stopping) return close();
    idle_ = true;
    routed_ = false;
    documents_ = -1;
    method_.clear();
    path_.clear();
    parser_.emplace();
    parser_->header_limit(kHeaderBytes);
    parser_->body_limit(service_.options.max_body_bytes);
    stream_.expires_after(std::chrono::seconds(service_.options.read_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    idle_ = false;
    start_ = Clock::now();
    const auto& request = parser_->get();
    if (parser_->is_header_done()) {  // also when a Content-Length over the limit failed the read
      method_ = std::string(view(request.method_string()));
      path_ = decoded_path(view(request.target()));
    }
    if (ec) return fail_reading(ec);
    head_ = request.method() == http::verb::head;
    keep_alive_ = request.keep_alive();
    if (std::string error = header_error(request); !error.empty()) return answer_error(status_, error);
    routed_ = true;
    if (view(request[http::field::content_type]).find("multipart/form-data") != std::string_view::npos) {
      return answer_error(415, "multipart/form-data is not read: send the JSON object itself as the body");
    }
    if (beast::iequals(request[http::field::expect], "100-continue") && !parser_->is_done()) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code e, size_t) {
        if (e) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  // The status and message for a header that cannot be routed (set in status_), or "".
  std::string header_error(const http::request<http::string_body>& request) {
    std::vector<std::string> lengths;
    size_t fields = 0;
    for (const auto& field : request) {
      ++fields;
      if (field.name() == http::field::content_length) lengths.emplace_back(view(field.value()));
    }
    status_ = 400;
    if (std::string framing = framing_error(lengths, request.count(http::field::transfer_encoding) > 0);
        !framing.empty()) {
      return framing;
    }
    status_ = 431;
    if (fields > kHeaderFields) return fmt::format("{} header fields, more than the {} allowed", fields, kHeaderFields);
    status_ = 414;
    if (request.target().size() > kTargetBytes) {
      return fmt::format("the request target is longer than the {} bytes allowed", kTargetBytes);
    }
    const std::string allow = allowed_methods(path_);
    status_ = 404;
    if (allow.empty()) {
      return fmt::format("no such endpoint: {} {} (try GET /, GET /v1/model, POST /v1/classify, POST /v1/explain)",
                         method_, path_);
    }
    const bool get = request.method() == http::verb::get || head_;
    const bool allowed = allow == "POST" ? request.method() == http::verb::post : get;
    status_ = 405;
    if (!allowed) {
      allow_ = allow;
      return fmt::format("{} is not answered at {}: use {}", method_, path_, allow);
    }
    status_ = 401;
    const bool open = path_ == "/" || path_ == "/healthz";
    const std::string& key = service_.options.api_key;
    if (!key.empty() && !open && !bearer_token_matches(view(request[http::field::authorization]), key)) {
      challenge_ = true;
      return "this service needs its API key: send 'Authorization: Bearer KEY'";
    }
    return "";
  }

  void read_body() {
    stream_.expires_after(std::chrono::seconds(3 * service_.options.read_timeout_s));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail_reading(ec);
      self->route();
    });
  }

  void fail_reading(const beast::error_code& ec) {
    // Past a deadline tcp_stream has closed the socket: nothing can be answered.
    const auto [status, message] = read_failure(ec, service_.options.max_body_bytes);
    if (status == 0) return close();
    keep_alive_ = false;  // the rest of the stream cannot be trusted to start a request
    answer_error(status, message);
  }

  void route() {
    if (path_ == "/healthz") return answer(200, R"({"status":"ok"})");
    if (path_ == "/v1/model") {
      return answer(200, service_.model_info.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (path_ == "/") return answer(200, service_.page, "text/html; charset=utf-8");
    if (service_.waiting.fetch_add(1) >= service_.max_waiting) {
      --service_.waiting;
      return answer_error(503, fmt::format("busy: {} requests are being answered; try again", service_.max_waiting));
    }
    // The work guard keeps the I/O threads running until the answer is posted back.
    net::post(service_.requests,
              [self = shared_from_this(), body = std::move(parser_->get().body()), explain = path_ == "/v1/explain",
               guard = net::make_work_guard(stream_.get_executor())]() mutable {
                auto computed = self->compute(body, explain);
                --self->service_.waiting;
                net::post(self->stream_.get_executor(), [self, computed = std::move(computed)]() mutable {
                  self->answer(computed.first, std::move(computed.second));
                });
              });
  }

  // The answer to /v1/classify or /v1/explain; runs on Service::requests.
  std::pair<int, std::string> compute(const std::string& body, bool explain) {
    const LabelSet& labels = service_.model.labels;
    try {
      const auto documents = parse_documents_request(body, service_.options.max_documents);
      documents_ = static_cast<int64_t>(documents.size());
      json results = json::array();
      if (explain) {
        const auto explanations = service_.batcher.explain(documents);
        for (size_t i = 0; i < documents.size(); ++i) {
          json object = explanation_to_json(explanations[i], documents[i], labels);
          object["id"] = documents[i].origin;
          results.push_back(std::move(object));
        }
      } else {
        const auto predictions = service_.batcher.predict(documents);
        for (size_t i = 0; i < documents.size(); ++i) {
          results.push_back(classification_to_json(predictions[i], documents[i], labels));
        }
      }
      const json reply{{"model", service_.model_info["model"]}, {"results", std::move(results)}};
      return {200, reply.dump(-1, ' ', false, json::error_handler_t::replace)};
    } catch (const RequestError& e) {
      documents_ = std::max<int64_t>(documents_, 0);
      return {e.status(), error_body(e.what())};
    } catch (const std::exception& e) {
      return {500, error_body(fmt::format("internal error: {}", e.what()))};
    }
  }

  void answer_error(int status, const std::string& message) {
    // Refused before its body was read: the connection cannot carry another request.
    if (parser_ && !parser_->is_done()) keep_alive_ = false;
    answer(status, error_body(message));
  }

  void answer(int status, std::string body, const char* type = "application/json") {
    auto response = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
    response->set(http::field::content_type, type);
    if (!allow_.empty()) response->set(http::field::allow, allow_);
    if (challenge_) response->set(http::field::www_authenticate, "Bearer");
    if (status == 503) response->set(http::field::retry_after, "1");
    if (service_.stopping) keep_alive_ = false;
    response->keep_alive(keep_alive_);
    response->body() = std::move(body);
    response->prepare_payload();
    if (head_) response->body().clear();  // Content-Length stays that of the GET
    log_request(status);
    allow_.clear();
    challenge_ = false;
    stream_.expires_after(kWriteDeadline);
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_) return self->linger();
      self->read_header();
    });
  }

  // After a last answer: stop sending, and read what the client still sends
  // (the rest of a body refused with 413, say) for a while before closing.
  // Closing with unread bytes would reset the connection, and the client
  // could lose the answer before reading it.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerDeadline);
    drain_.resize(16 * 1024);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) return self->stream_.close();
      self->drain();
    });
  }

  void log_request(int status) {
    if (!service_.options.log) return;
    try {
      if (routed_) {
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
        service_.log(fmt::format("{} {} {} {} docs {:.1f} ms", printable(method_), printable(path_), status,
                                 std::max<int64_t>(documents_, 0), ms));
      } else {
        service_.log(fmt::format("{} {} {} - docs - ms", printable(method_.empty() ? "-" : method_),
                                 printable(path_.empty() ? "-" : path_), status));
      }
    } catch (...) {
    }
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Service& service_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string method_, path_, allow_;
  bool head_ = false, keep_alive_ = false, idle_ = false, routed_ = false, challenge_ = false;
  int status_ = 0;
  std::vector<char> drain_;  // for linger(), allocated then
  size_t drained_ = 0;
  std::atomic<int64_t> documents_{-1};  // set on the request pool, read on the strand after
  Clock::time_point start_;
};

// Accepts connections until stopped; each becomes a Session.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, tcp::acceptor& acceptor, Service& service)
      : io_(io), acceptor_(acceptor), service_(service) {}
  void accept() {
    acceptor_.async_accept(net::make_strand(io_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (self->service_.stopping || ec == net::error::operation_aborted) return;
      if (!ec) {
        auto session = std::make_shared<Session>(std::move(s), self->service_);
        if (self->service_.open_sessions() >= static_cast<size_t>(self->service_.options.max_connections)) {
          session->refuse(fmt::format("{} connections are open, the most --max-connections allows; try again",
                                      self->service_.options.max_connections));
        } else {
          session->start();
        }
        return self->accept();
      }
      // Out of file descriptors, say: wait a little rather than spin on the error.
      self->retry_.expires_after(std::chrono::milliseconds(50));
      self->retry_.async_wait([self](beast::error_code) {
        if (!self->service_.stopping) self->accept();
      });
    });
  }

 private:
  net::io_context& io_;
  tcp::acceptor& acceptor_;
  Service& service_;
  net::steady_timer retry_{io_};  // after io_, which it is made from
};

tcp::endpoint resolve(net::io_context& io, const ServeOptions& options) {
  beast::error_code ec;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty()) {
    throw SystemError(fmt::format("cannot listen on {}:{} (not an address of this machine: {})", options.host,
                                  options.port, ec.message()));
  }
  return results.begin()->endpoint();
}

}  // namespace

void serve(const Model& model, const std::string& model_path, const ServeOptions& options,
           const std::function<void(int port)>& on_listening) {
  Predictor predictor(model, options.max_batch_documents, 1, options.device);
  Batcher batcher(predictor, options.batch_workers, options.max_batch_documents,
                  std::chrono::microseconds(options.max_delay_us));
  const int request_threads = std::max(1, options.http_threads);
  net::thread_pool requests(static_cast<size_t>(request_threads));
  Service service{options, model, batcher, describe_model(model), "", requests};
  service.model_info["model"] = std::filesystem::path(model_path).filename().string();
  service.page = render_service_page("han: paste a document",
                                     fmt::format("model {}: {}", service.model_info["model"].get<std::string>(),
                                                 fmt::join(model.labels.names(), ", ")));
  service.max_waiting = static_cast<size_t>(request_threads) * 4;

  net::io_context io(kIoThreads);
  tcp::acceptor acceptor(io);
  beast::error_code ec;
  const tcp::endpoint endpoint = resolve(io, options);
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR (a restart need not wait out TIME_WAIT), never SO_REUSEPORT:
  // a second server on a taken port must be an error.
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw SystemError(
        fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", options.host, options.port));
  }
  std::make_shared<Listener>(io, acceptor, service)->accept();

  const auto stop = [&] {
    net::post(io, [&] {
      service.stopping = true;
      beast::error_code ignored;
      acceptor.close(ignored);
      std::vector<std::shared_ptr<Session>> open;
      {
        std::lock_guard<std::mutex> lock(service.sessions_mutex);
        for (auto& [key, weak] : service.sessions) {
          if (auto session = weak.lock()) open.push_back(std::move(session));
        }
      }
      // Outside the lock: a session's destructor takes it.
      for (auto& session : open) session->stop();
    });
  };
  // Returns once stopped and every connection is closed. A handler's
  // exception (bad_alloc, say) ends its connection, not the service.
  const auto run_io = [&] {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        service.log(fmt::format("internal error: {}", e.what()));
      }
    }
  };
  {
    StopOnSignal stop_on_signal(stop, options.log);
    on_listening(acceptor.local_endpoint().port());
    std::vector<std::thread> io_threads;
    for (int i = 1; i < kIoThreads; ++i) io_threads.emplace_back(run_io);
    run_io();
    for (auto& thread : io_threads) thread.join();
  }
  requests.join();
}

}  // namespace han
