/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>

/*
 * The XML of a libvirt domain, over a read-only connection to qemu:///system (flags: 0 for the
 * live definition, VIR_DOMAIN_XML_INACTIVE for the next start's). 0 with a malloc()ed string;
 * -EOPNOTSUPP without libvirt, -EHOSTUNREACH when libvirtd cannot be reached, -ENOENT for an
 * unknown domain, -EIO when it gives no XML.
 */
int virt_domain_xml(const char *name, unsigned flags, char **ret);
