// han/infer: using a model. Prediction and explanation (the Predictor),
// evaluation metrics, and the attention JSON.
#pragma once

#include "han/infer/annotate.h"
#include "han/infer/explain.h"
#include "han/infer/inference.h"
#include "han/infer/metrics.h"
