#include "CMallocSupport.h"
// Defines __GLIBC__ on glibc (through features.h); stddef.h alone does not.
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>

int burrow_malloc_set_thresholds(size_t mmap_threshold, size_t trim_threshold) {
    int mmap_set = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    int trim_set = mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
    return mmap_set == 1 && trim_set == 1;
}

size_t burrow_malloc_free_bytes(void) {
    return mallinfo2().fordblks;
}

int burrow_malloc_trim(void) {
    return malloc_trim(0);
}
#else
int burrow_malloc_set_thresholds(size_t mmap_threshold, size_t trim_threshold) { return 0; }
size_t burrow_malloc_free_bytes(void) { return 0; }
int burrow_malloc_trim(void) { return 0; }
#endif
