// Only the header matters: LLVMFuzzerRunDriver is linked from libFuzzer.
#include "CLibFuzzer.h"
