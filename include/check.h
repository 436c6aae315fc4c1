/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "hook.h"

/* Host findings that concern every VM (the IOMMU); returns the number of errors. */
unsigned check_host(void);

/*
 * The same checks prepare makes for one VM, against this host as it is now, without changing
 * anything: prints "ok:" with the number of changes prepare would make, or "error:" with the
 * line prepare would fail with. Returns 1 for an error, else 0.
 */
unsigned check_vm(struct run *run);
