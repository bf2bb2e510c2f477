#include "CMemorySupport.h"
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

#if defined(__linux__)
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/// One mapping of /proc/self/smaps while its lines are read.
struct burrow_mapping {
    unsigned long start, end;
    char perms[5];
    int file_backed;
    unsigned long rss_kib, anonymous_kib;
};

/// Unmaps the mapping's pages when they can be had again from their file unchanged: a private
/// mapping of a file, not writable, holding no page of its own (Anonymous 0, so nothing was ever
/// copied on write: the relocated RELRO segment always has some and is left alone).
static size_t burrow_release_mapping(const struct burrow_mapping *m) {
    if (!m->file_backed || m->perms[1] == 'w' || m->perms[3] != 'p' || m->anonymous_kib != 0 || m->rss_kib == 0) {
        return 0;
    }
    void *start = (void *)m->start;
    size_t length = m->end - m->start;
    if (madvise(start, length, MADV_DONTNEED) != 0) return 0;
    return (size_t)m->rss_kib * 1024;
}

size_t burrow_release_clean_file_pages(void) {
    FILE *smaps = fopen("/proc/self/smaps", "r");
    if (!smaps) return 0;
    size_t released = 0;
    struct burrow_mapping current = {0};
    int have = 0;
    char line[1024];
    while (fgets(line, sizeof line, smaps)) {
        unsigned long start, end, kib;
        char perms[5], path[512];
        int fields = sscanf(line, "%lx-%lx %4s %*s %*s %*s %511s", &start, &end, perms, path);
        if (fields >= 3) {
            if (have) released += burrow_release_mapping(&current);
            current = (struct burrow_mapping){ .start = start, .end = end, .file_backed = fields == 4 && path[0] == '/' };
            memcpy(current.perms, perms, sizeof perms);
            have = 1;
        } else if (sscanf(line, "Rss: %lu kB", &kib) == 1) {
            current.rss_kib = kib;
        } else if (sscanf(line, "Anonymous: %lu kB", &kib) == 1) {
            current.anonymous_kib = kib;
        }
    }
    if (have) released += burrow_release_mapping(&current);
    fclose(smaps);
    return released;
}

size_t burrow_resident_file_bytes(void) {
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm) return 0;
    unsigned long size, resident, shared;
    int fields = fscanf(statm, "%lu %lu %lu", &size, &resident, &shared);
    fclose(statm);
    return fields == 3 ? (size_t)shared * (size_t)sysconf(_SC_PAGESIZE) : 0;
}
#else
size_t burrow_release_clean_file_pages(void) { return 0; }
size_t burrow_resident_file_bytes(void) { return 0; }
#endif
