#ifndef C_SPAWN_SUPPORT_H
#define C_SPAWN_SUPPORT_H

#include <spawn.h>

/// Adds "close every descriptor from `lowest` up" to `actions` (glibc 2.34's
/// posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not offer
/// because it is a GNU extension). Returns 0 or an errno value.
int burrow_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

#endif
