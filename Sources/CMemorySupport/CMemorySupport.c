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
size_t burrow_release_unwritten_pages(void *start, size_t length) { return 0; }
int burrow_executable_section(const char *name, void **start, size_t *length) { return 0; }
size_t burrow_resident_file_bytes(void) { return 0; }
#endif
