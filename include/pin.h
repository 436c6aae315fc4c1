/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "cli.h"

/*
 * `vfiohook pin VM [--host-cores N] [--xml FILE] [--check]`: CPU pinning for VM computed from
 * the host's topology (SMT siblings, L3 groups, the GPU's NUMA node), printed as domain XML and
 * kvm.conf lines to paste; with --check, the domain's <cputune> compared with it (exit 1 when
 * something differs).
 */
int cmd_pin(const struct options *o);
