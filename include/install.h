/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "cli.h"

/* `vfiohook install`: the hook link (a foreign hook backed up first), then libvirt reloaded. */
int cmd_install(const struct options *o);
