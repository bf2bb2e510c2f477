// dl_iterate_phdr (link.h).
#define _GNU_SOURCE
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
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
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

/// Calls `each` with every line of the file at `path`, read with read(2) into a fixed buffer.
/// Not stdio: fopen and sscanf are some 400 KiB of libc's code that each look mapped again, so
/// a look made the process bigger than the pages it gave back. Lines longer than the buffer
/// are cut (no line this code reads is near it).
static void burrow_each_line(const char *path, void (*each)(const char *line, const char *end, void *state), void *state) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buffer[8192];
    size_t held = 0;
    for (;;) {
        ssize_t got = read(fd, buffer + held, sizeof buffer - held);
        if (got <= 0) break;
        held += (size_t)got;
        char *line = buffer, *newline;
        while ((newline = memchr(line, '\n', held - (size_t)(line - buffer)))) {
            each(line, newline, state);
            line = newline + 1;
        }
        held -= (size_t)(line - buffer);
        if (held == sizeof buffer) { each(buffer, buffer + held, state); held = 0; continue; }
        memmove(buffer, line, held);
    }
    if (held > 0) each(buffer, buffer + held, state);
    close(fd);
}

/// Reads an unsigned number in `base` (10 or 16, lower-case digits as /proc writes them) at
/// *at, moving past it. No overflow check: addresses and kB counts fit. Returns 0 when no digit
/// is there.
static int burrow_number(const char **at, const char *end, int base, unsigned long *value) {
    const char *p = *at;
    unsigned long n = 0;
    for (; p < end; p++) {
        int digit;
        if (*p >= '0' && *p <= '9') digit = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f') digit = *p - 'a' + 10;
        else break;
        n = n * (unsigned long)base + (unsigned long)digit;
    }
    if (p == *at) return 0;
    *value = n;
    *at = p;
    return 1;
}

static const char *burrow_skip_field(const char *p, const char *end) {
    while (p < end && *p != ' ') p++;
    while (p < end && *p == ' ') p++;
    return p;
}

/// The value of a "Name:   123 kB" line when it starts with `name` (with its colon).
static int burrow_field_kib(const char *line, const char *end, const char *name, unsigned long *kib) {
    size_t length = strlen(name);
    if ((size_t)(end - line) <= length || memcmp(line, name, length) != 0) return 0;
    const char *p = line + length;
    while (p < end && *p == ' ') p++;
    return burrow_number(&p, end, 10, kib);
}

struct burrow_smaps_pass {
    struct burrow_mapping current;
    int have;
    size_t released;
};

/// One line of /proc/self/smaps: a mapping's header ("start-end perms offset dev inode path")
/// or one of its fields.
static void burrow_smaps_line(const char *line, const char *end, void *state) {
    struct burrow_smaps_pass *pass = state;
    unsigned long start, finish, kib;
    const char *p = line;
    if (burrow_number(&p, end, 16, &start) && p < end && *p == '-' && (p++, burrow_number(&p, end, 16, &finish))
        && p + 5 < end && *p == ' ') {
        if (pass->have) pass->released += burrow_release_mapping(&pass->current);
        pass->current = (struct burrow_mapping){ .start = start, .end = finish };
        memcpy(pass->current.perms, p + 1, 4);
        p = burrow_skip_field(p + 1, end); // perms
        p = burrow_skip_field(p, end);     // offset
        p = burrow_skip_field(p, end);     // device
        p = burrow_skip_field(p, end);     // inode; then the path, if any
        pass->current.file_backed = p < end && *p == '/';
        pass->have = 1;
    } else if (burrow_field_kib(line, end, "Rss:", &kib)) {
        pass->current.rss_kib = kib;
    } else if (burrow_field_kib(line, end, "Anonymous:", &kib)) {
        pass->current.anonymous_kib = kib;
    }
}

size_t burrow_release_clean_file_pages(void) {
    struct burrow_smaps_pass pass = {0};
    burrow_each_line("/proc/self/smaps", burrow_smaps_line, &pass);
    if (pass.have) pass.released += burrow_release_mapping(&pass.current);
    size_t released = pass.released;
    // The executable's constants: the linker put them in its writable segment (some of the
    // `.rodata` sections Swift emits are flagged writable, and one writable input makes the
    // output writable), so the pass above leaves them, though nothing writes a constant.
    void *constants;
    size_t length;
    if (burrow_executable_section(".rodata", &constants, &length)) {
        released += burrow_release_unwritten_pages(constants, length);
    }
    return released;
}

size_t burrow_release_unwritten_pages(void *start, size_t length) {
    long page = sysconf(_SC_PAGESIZE);
    unsigned long first = ((unsigned long)start + page - 1) / page;
    unsigned long last = ((unsigned long)start + length) / page; // exclusive: whole pages only
    if (last <= first) return 0;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) return 0;
    size_t released = 0;
    unsigned long run = 0, run_pages = 0; // the current run of pages to release
    uint64_t entries[512];
    for (unsigned long at = first; at < last;) {
        unsigned long count = last - at < 512 ? last - at : 512;
        ssize_t got = pread(pagemap, entries, count * 8, (off_t)(at * 8));
        if (got <= 0) break;
        count = (unsigned long)got / 8;
        for (unsigned long i = 0; i < count; i++) {
            // Bit 63: present. Bit 61: a page of the file (or shared), clear for a private copy.
            int unwritten = (entries[i] >> 63 & 1) && (entries[i] >> 61 & 1);
            if (unwritten && run_pages > 0 && run + run_pages == at + i) {
                run_pages++;
                continue;
            }
            if (run_pages > 0 && madvise((void *)(run * page), run_pages * page, MADV_DONTNEED) == 0) {
                released += run_pages * page;
            }
            run = at + i;
            run_pages = unwritten ? 1 : 0;
        }
        at += count;
    }
    if (run_pages > 0 && madvise((void *)(run * page), run_pages * page, MADV_DONTNEED) == 0) {
        released += run_pages * page;
    }
    close(pagemap);
    return released;
}

/// dl_iterate_phdr visits the executable first; its dlpi_addr is where it was loaded.
static int burrow_note_executable_base(struct dl_phdr_info *info, size_t size, void *base) {
    (void)size;
    *(uintptr_t *)base = info->dlpi_addr;
    return 1;
}

int burrow_executable_section(const char *name, void **start, size_t *length) {
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int found = 0;
    Elf64_Ehdr header;
    Elf64_Shdr *sections = NULL;
    char *names = NULL;
    if (pread(fd, &header, sizeof header, 0) != (ssize_t)sizeof header
        || memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64
        || header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shstrndx >= header.e_shnum) {
        goto done;
    }
    size_t table = (size_t)header.e_shnum * sizeof(Elf64_Shdr);
    sections = malloc(table);
    if (!sections || pread(fd, sections, table, (off_t)header.e_shoff) != (ssize_t)table) goto done;
    const Elf64_Shdr *strings = &sections[header.e_shstrndx];
    names = malloc(strings->sh_size + 1);
    if (!names || pread(fd, names, strings->sh_size, (off_t)strings->sh_offset) != (ssize_t)strings->sh_size) goto done;
    names[strings->sh_size] = 0;
    uintptr_t base = 0;
    dl_iterate_phdr(burrow_note_executable_base, &base);
    for (int i = 0; i < header.e_shnum; i++) {
        const Elf64_Shdr *section = &sections[i];
        if (section->sh_name < strings->sh_size && strcmp(names + section->sh_name, name) == 0
            && (section->sh_flags & SHF_ALLOC) && section->sh_type == SHT_PROGBITS) {
            *start = (void *)(base + section->sh_addr);
            *length = section->sh_size;
            found = 1;
            break;
        }
    }
done:
    free(names);
    free(sections);
    close(fd);
    return found;
}

/// statm: "size resident shared text lib data dt", in pages.
static void burrow_statm_line(const char *line, const char *end, void *state) {
    unsigned long size, resident, shared;
    const char *p = line;
    if (burrow_number(&p, end, 10, &size) && (p = burrow_skip_field(p, end), burrow_number(&p, end, 10, &resident))
        && (p = burrow_skip_field(p, end), burrow_number(&p, end, 10, &shared))) {
        *(size_t *)state = (size_t)shared * (size_t)sysconf(_SC_PAGESIZE);
    }
}

size_t burrow_resident_file_bytes(void) {
    size_t bytes = 0;
    burrow_each_line("/proc/self/statm", burrow_statm_line, &bytes);
    return bytes;
}

uint64_t burrow_process_cpu_nanoseconds(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) != 0) return 0;
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}
#else
uint64_t burrow_process_cpu_nanoseconds(void) { return 0; }
size_t burrow_release_clean_file_pages(void) { return 0; }
size_t burrow_release_unwritten_pages(void *start, size_t length) { return 0; }
int burrow_executable_section(const char *name, void **start, size_t *length) { return 0; }
size_t burrow_resident_file_bytes(void) { return 0; }
#endif
