/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPUSET_MAX 1024

/* A set of CPU numbers, as the kernel and libvirt write them ("0-3,8,10-11"). */
struct cpuset {
	uint64_t bits[CPUSET_MAX / 64];
};

/* Parses "0-3,8" (libvirt also allows "^N" exclusions); "" is the empty set; -EINVAL. */
int cpuset_parse(const char *s, struct cpuset *ret);
/* Adds every CPU of s to set; -EINVAL. */
int cpuset_add_str(struct cpuset *set, const char *s);
void cpuset_format(const struct cpuset *set, char *buf, size_t size);
bool cpuset_has(const struct cpuset *set, unsigned cpu);
void cpuset_set(struct cpuset *set, unsigned cpu);
bool cpuset_empty(const struct cpuset *set);
bool cpuset_intersects(const struct cpuset *a, const struct cpuset *b);
unsigned cpuset_count(const struct cpuset *set);
