// han/model: the network in LibTorch and the file that carries it. The
// reference network (which owns the parameters), padded batches for it,
// model files, pretrained vectors, and the device and thread settings.
#pragma once

#include "han/model/batch.h"
#include "han/model/embeddings.h"
#include "han/model/model_file.h"
#include "han/model/network.h"
#include "han/model/runtime.h"
