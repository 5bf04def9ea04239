// Must not compile: han_data sits below han_model, so a target that links
// only han_data cannot see model's headers. tests/CMakeLists.txt's
// "layering" test builds this and expects exactly that failure.
#include "han/model/model.h"
