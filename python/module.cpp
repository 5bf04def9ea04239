// han._core: the Python binding (pybind11). python/han/__init__.py is the
// public face; this file only converts between Python and the library, and
// releases the GIL around every long call.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/infer/infer.h"
#include "han/model/model.h"
#include "han/train/train.h"

namespace py = pybind11;

namespace {

// Python objects from JSON (the attention JSON and the configuration).
py::object to_python(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      py::dict d;
      for (const auto& [key, value] : j.items()) d[py::str(key)] = to_python(value);
      return std::move(d);
    }
    case nlohmann::json::value_t::array: {
      py::list l;
      for (const auto& value : j) l.append(to_python(value));
      return std::move(l);
    }
    case nlohmann::json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(j.get<double>());
    default:
      return py::none();
  }
}

// The UTF-8 of `item`, a str: TypeError for anything else, ValueError for a
// str that has no UTF-8 (a lone surrogate), both naming `what`.
std::string utf8_of(const py::handle& item, const std::string& what) {
  if (!py::isinstance<py::str>(item)) {
    throw py::type_error(
        fmt::format("{} is a {}, not a str", what, std::string(py::str(item.get_type().attr("__name__")))));
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
  if (data == nullptr) {
    PyErr_Clear();
    throw py::value_error(
        fmt::format("{} cannot be encoded as UTF-8 (it holds a lone surrogate, e.g. '\\ud800'): "
                    "repair it, e.g. text.encode('utf-8', 'replace').decode()",
                    what));
  }
  return std::string(data, static_cast<size_t>(size));
}

// Strings from a list, tuple, array or iterator of str; one str, a dict or a
// set is a TypeError that says what to give.
std::vector<std::string> strings_of(const py::handle& items, const char* name) {
  if (py::isinstance<py::str>(items) || py::isinstance<py::bytes>(items)) {
    throw py::type_error(fmt::format("{} must be a list of str, not one string: [text] for one document", name));
  }
  if (py::isinstance<py::dict>(items) || py::isinstance<py::set>(items) || py::isinstance<py::frozenset>(items)) {
    throw py::type_error(fmt::format("{} must be a list of str, not a {}: its order is not the documents'", name,
                                     std::string(py::str(items.get_type().attr("__name__")))));
  }
  std::vector<std::string> out;
  for (const py::handle item : py::iter(items)) out.push_back(utf8_of(item, fmt::format("{}[{}]", name, out.size())));
  return out;
}

std::vector<han::Document> documents_of(const py::handle& texts) {
  std::vector<han::Document> documents;
  for (std::string& text : strings_of(texts, "texts")) {
    documents.push_back({std::move(text), "", fmt::format("texts[{}]", documents.size())});
  }
  return documents;
}

// A loaded model and its Predictor, which several threads may share.
class PyModel {
 public:
  PyModel(const std::string& path, const std::string& device, int threads, int batch_size)
      : model_(load(path, threads, batch_size)),
        predictor_(model_, batch_size, han::configure_threads(threads), han::resolve_device(device)) {}

  std::vector<std::string> labels() const { return model_.labels.names(); }
  py::object config() const { return to_python(han::to_json(model_.config)); }
  py::object describe() const { return to_python(han::describe_model(model_)); }

  // top_k None: 1 label, or for a multi-label model every label over its threshold.
  py::list classify(const py::handle& texts, const py::object& top_k, double threshold) const {
    const int64_t given = top_k.is_none() ? (model_.config.model.multi_label ? 0 : 1) : top_k.cast<int64_t>();
    if (!top_k.is_none() && given < 1) throw py::value_error("top_k must be at least 1");
    if (!(threshold >= 0 && threshold <= 1)) throw py::value_error("threshold must be a probability, 0 to 1");
    const int k = static_cast<int>(std::min<int64_t>(given, model_.labels.size()));
    const auto documents = documents_of(texts);
    std::vector<han::Prediction> predictions;
    {
      py::gil_scoped_release release;
      predictions = predictor_.predict(documents, interruptible());
    }
    py::list out;
    for (const auto& prediction : predictions) {
      out.append(to_python(han::prediction_to_json(prediction, model_.labels, k, static_cast<float>(threshold))));
    }
    return out;
  }

  // [documents, labels] float32, rows in the order of the texts.
  py::array_t<float> predict_proba(const py::handle& texts) const {
    const auto documents = documents_of(texts);
    const auto labels = static_cast<py::ssize_t>(model_.labels.size());
    py::array_t<float> out({static_cast<py::ssize_t>(documents.size()), labels});
    float* data = out.mutable_data();
    {
      py::gil_scoped_release release;
      const auto predictions = predictor_.predict(documents, interruptible());
      for (size_t i = 0; i < predictions.size(); ++i) {
        std::memcpy(data + i * static_cast<size_t>(labels), predictions[i].probabilities.data(),
                    static_cast<size_t>(labels) * sizeof(float));
      }
    }
    return out;
  }

  py::list explain(const py::handle& texts) const {
    const auto documents = documents_of(texts);
    std::vector<nlohmann::json> objects(documents.size());
    {
      py::gil_scoped_release release;
      predictor_.explain_each(
          documents,
          [&](size_t i, han::Explanation&& e) {
            objects[i] = han::explanation_to_json(e, documents[i], model_.labels);
          },
          interruptible());
    }
    py::list out;
    for (const auto& object : objects) out.append(to_python(object));
    return out;
  }

 private:
  static han::Model load(const std::string& path, int threads, int batch_size) {
    if (threads < 0) throw py::value_error("threads must be 0 (every core) or more");
    if (batch_size < 1) throw py::value_error("batch_size must be at least 1");
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      PyErr_SetObject(PyExc_FileNotFoundError, py::make_tuple(2, "no such model file", path).ptr());
      throw py::error_already_set();
    }
    py::gil_scoped_release release;
    return han::load_model(path);
  }

  // Ctrl-C between blocks of documents: the call stops instead of finishing first.
  static han::ProgressCallback interruptible() {
    return [](int64_t, int64_t) {
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    };
  }

  han::Model model_;
  han::Predictor predictor_;
};

// han.train's settings, already "section.key=value" (python/han/__init__.py).
struct TrainRequest {
  std::string output;
  std::vector<std::string> settings;
  bool automatic = true;
  std::string checkpoint;  // empty: none
  int threads = 0;
  std::string run = "{}";  // JSON: what `han train --resume` needs (data, format, fields), stored in checkpoints
};

std::set<std::string> keys_of(const std::vector<std::string>& settings) {
  std::set<std::string> keys;
  for (const auto& s : settings) keys.insert(s.substr(0, s.find('=')));
  return keys;
}

py::dict progress_dict(const han::TrainingProgress& p) {
  static const char* const kStages[] = {"tokenizing", "pretraining", "training", "validating"};
  py::dict d;
  d["stage"] = kStages[static_cast<int>(p.stage)];
  d["epoch"] = p.epoch;
  d["epochs"] = p.epochs;
  d["done"] = p.done;
  d["total"] = p.total;
  d["loss"] = p.loss;
  d["docs_per_second"] = p.docs_per_second;
  return d;
}

// Trains as `han train` does (the automatic recipe, then train_model) and
// writes the model. Ctrl-C (KeyboardInterrupt) stops at the next batch with a
// checkpoint, as in the program; a progress callback that raises stops too.
py::dict train(const han::Corpus& train_corpus, const std::optional<han::Corpus>& valid, const TrainRequest& request,
               const py::object& progress) {
  han::Config config;
  for (const auto& assignment : request.settings) config = han::apply_override(config, assignment);
  if (request.threads > 0) config.train.threads = request.threads;
  request.automatic ? han::validate_values(config) : han::validate(config);
  nlohmann::json choices = nlohmann::json::array();
  if (request.automatic) {
    for (const auto& choice :
         han::choose_recipe(han::profile_corpus(train_corpus), keys_of(request.settings), config)) {
      choices.push_back(han::to_json(choice));
    }
    han::validate(config);
  }
  std::atomic<bool> stop{false};
  std::optional<py::error_already_set> raised;
  const auto poll = [&](const py::object& call, const py::dict& argument) {
    py::gil_scoped_acquire acquire;
    if (raised) return;
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!call.is_none()) call(argument);
    } catch (py::error_already_set& e) {
      raised.emplace(std::move(e));
      stop = true;
    }
  };
  han::TrainCallbacks callbacks;
  callbacks.on_progress = [&](const han::TrainingProgress& p) {
    py::gil_scoped_acquire acquire;  // the dict is built under the GIL too
    poll(progress, progress_dict(p));
  };
  han::CheckpointOptions checkpoints;
  checkpoints.path = request.checkpoint;
  checkpoints.every_steps = 1000;
  checkpoints.stop = &stop;
  checkpoints.run = nlohmann::json::parse(request.run);
  checkpoints.run["output"] = request.output;
  checkpoints.run["checkpoint"] = request.checkpoint;
  checkpoints.run["choices"] = choices;
  checkpoints.unlabeled_reader.text_field = checkpoints.run.value("text_field", "");
  han::TrainingReport report;
  han::Model model;
  {
    py::gil_scoped_release release;
    han::OutputLock lock(request.output);
    model = han::train_model(train_corpus, valid ? &*valid : nullptr, config, callbacks, &report, checkpoints);
    if (!report.interrupted) {
      model.choices = choices;
      for (const char* key : {"text_field", "label_field"}) {
        const std::string field = checkpoints.run.value(key, "");
        if (!field.empty()) model.fields[key] = field;
      }
      han::save_model(model, request.output);
      std::error_code ec;
      if (!request.checkpoint.empty()) std::filesystem::remove(request.checkpoint, ec);
    }
  }
  if (report.interrupted && !request.checkpoint.empty()) {
    py::print(
        fmt::format("han: interrupted after {} batches; checkpoint saved to {}", report.steps, request.checkpoint),
        py::arg("file") = py::module_::import("sys").attr("stderr"));
  }
  if (raised) throw std::move(*raised);
  py::dict out;
  out["output"] = request.output;
  out["interrupted"] = report.interrupted;
  out["best_epoch"] = report.best_epoch;
  out["train_documents"] = report.train_documents;
  out["valid_documents"] = report.valid_documents;
  out["vocabulary_size"] = report.vocabulary_size;
  out["refit_epochs"] = report.refit_epochs;  // 0: no refit ran
  out["refit_documents"] = report.refit_documents;
  out["unlabeled_documents"] = report.unlabeled_documents;  // 0: no unlabeled text
  out["unlabeled_tokens"] = report.unlabeled_tokens;
  out["unlabeled_words"] = report.unlabeled_words;
  py::list epochs;
  for (const auto& epoch : report.epochs) epochs.append(to_python(han::to_json(epoch)));
  out["epochs"] = epochs;
  out["choices"] = to_python(choices);
  out["checkpoint"] = report.interrupted ? request.checkpoint : std::string();
  return out;
}

han::Corpus read_corpus(const std::string& path, const std::string& format, const std::string& text_field,
                        const std::string& label_field) {
  han::CorpusOptions options;
  options.format = han::parse_corpus_format(format);
  options.text_field = text_field;
  options.label_field = label_field;
  py::gil_scoped_release release;
  return han::read_corpus(path, options);
}

han::Corpus corpus_of(const py::handle& text_items, const py::handle& label_items) {
  const std::vector<std::string> texts = strings_of(text_items, "texts");
  const std::vector<std::string> labels = strings_of(label_items, "labels");
  if (texts.size() != labels.size()) {
    throw py::value_error(fmt::format("{} texts but {} labels: give one label per text", texts.size(), labels.size()));
  }
  han::Corpus corpus;
  for (size_t i = 0; i < texts.size(); ++i) {
    corpus.documents.push_back({texts[i], labels[i], fmt::format("texts[{}]", i)});
  }
  corpus.stats.documents = static_cast<int64_t>(texts.size());
  return corpus;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "han: document classification with Hierarchical Attention Networks";
  m.attr("__version__") = HAN_VERSION;
  // The library's typed errors as Python's own (the messages are the program's).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const han::ModelFileError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const han::SystemError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const han::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const han::UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const han::DivergenceError& e) {
      PyErr_SetString(PyExc_ArithmeticError, e.what());
    }
  });

  py::class_<PyModel>(m, "Model")
      .def(py::init<const std::string&, const std::string&, int, int>(), py::arg("path"), py::arg("device") = "cpu",
           py::arg("threads") = 0, py::arg("batch_size") = 64)
      .def_property_readonly("labels", &PyModel::labels)
      .def_property_readonly("config", &PyModel::config)
      .def("describe", &PyModel::describe)
      .def("classify", &PyModel::classify, py::arg("texts"), py::arg("top_k") = py::none(), py::arg("threshold") = 0.0f)
      .def("predict_proba", &PyModel::predict_proba, py::arg("texts"))
      .def("explain", &PyModel::explain, py::arg("texts"));

  py::class_<han::Corpus>(m, "Corpus").def_property_readonly("size", [](const han::Corpus& c) {
    return c.documents.size();
  });
  m.def("default_config", [] { return to_python(han::to_json(han::Config{})); });
  m.def("read_corpus", &read_corpus, py::arg("path"), py::arg("format"), py::arg("text_field"), py::arg("label_field"));
  m.def("corpus_of", &corpus_of, py::arg("texts"), py::arg("labels"));
  m.def("check_output",
        [](const std::string& path, const std::vector<std::string>& inputs) { han::check_output_path(path, inputs); });

  py::class_<TrainRequest>(m, "TrainRequest")
      .def(py::init<>())
      .def_readwrite("output", &TrainRequest::output)
      .def_readwrite("settings", &TrainRequest::settings)
      .def_readwrite("automatic", &TrainRequest::automatic)
      .def_readwrite("checkpoint", &TrainRequest::checkpoint)
      .def_readwrite("threads", &TrainRequest::threads)
      .def_readwrite("run", &TrainRequest::run);
  m.def("train", &train, py::arg("train"), py::arg("valid"), py::arg("request"), py::arg("progress"));
}
