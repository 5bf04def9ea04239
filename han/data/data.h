// han/data: from files to labeled documents and word ids, without LibTorch.
// Corpus readers and formats, the vocabulary and label set, the run's
// settings, interning and encoding, and the synthetic corpus.
#pragma once

#include "han/data/config.h"
#include "han/data/corpus.h"
#include "han/data/encode.h"
#include "han/data/prepared.h"
#include "han/data/synthetic.h"
#include "han/data/vocab.h"
