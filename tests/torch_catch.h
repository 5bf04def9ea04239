// Debian's LibTorch includes glog, whose CHECK macro clashes with Catch's:
// include LibTorch first, drop glog's CHECK, then Catch.
#pragma once

#include <torch/torch.h>
#undef CHECK
#include <catch2/catch.hpp>
