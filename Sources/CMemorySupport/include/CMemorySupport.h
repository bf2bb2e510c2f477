#ifndef C_MEMORY_SUPPORT_H
#define C_MEMORY_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Sets glibc's mmap and trim thresholds (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD,
/// which Swift's Glibc module does not offer: malloc.h is not in it). Returns 1 when both
/// took, 0 otherwise (and always 0 off glibc).
int burrow_malloc_set_thresholds(size_t mmap_threshold, size_t trim_threshold);

/// Bytes the allocator holds free (mallinfo2's fordblks: in its arenas, not given back).
size_t burrow_malloc_free_bytes(void);

/// Gives free memory back to the kernel, from every arena (malloc_trim(0)). Returns 1 when
/// some was given back.
int burrow_malloc_trim(void);

/// Unmaps the resident pages of this process's read-only file mappings (the binary's code and
/// constants, the shared libraries') that hold no private copy, and the unwritten pages of the
/// executable's `.rodata` section. The pages stay in the page cache: one touched again is a
/// minor fault. Returns the bytes that were resident in what was released (0 off Linux).
size_t burrow_release_clean_file_pages(void);

/// Unmaps the whole pages within [start, start + length) that are mapped from their file and
/// were never written (/proc/self/pagemap: present, and a page of the file rather than a
/// private copy). For a range nothing writes: a page written between the look and the unmap
/// would lose the write. Returns the bytes released (0 off Linux).
size_t burrow_release_unwritten_pages(void *start, size_t length);

/// Where the running executable's allocated section `name` (".rodata") is in memory, from its
/// section headers (/proc/self/exe) and load address. Returns 1 when found, 0 otherwise.
int burrow_executable_section(const char *name, void **start, size_t *length);

/// Bytes of this process's resident pages that are backed by files (statm's "shared": the
/// binary's and libraries' pages, copied-on-write ones excepted). 0 off Linux.
size_t burrow_resident_file_bytes(void);

/// CPU time this process has used, all threads, in nanoseconds (CLOCK_PROCESS_CPUTIME_ID; 0
/// off Linux).
uint64_t burrow_process_cpu_nanoseconds(void);

#endif
