/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Libraries that only some runs need are opened with dlopen() on first use, as systemd does:
 * the hook runs for every VM state change on the host, and a run for a VM vfiohook does not
 * manage should cost no more than starting a small program. Each dlopen_*() returns 0 once the
 * library and all its symbols are there, or a negative errno, and is cheap to call again.
 */

#include <libconfig.h>
#include <libkmod.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <systemd/sd-bus.h>

#define DLSYM_DECLARE(s) extern __typeof__(s) *sym_##s;

#define DL_CONFIG_SYMBOLS(X)                                                                       \
	X(config_init) X(config_destroy) X(config_read_string) X(config_set_include_dir)           \
	X(config_setting_get_int) X(config_setting_get_int64) X(config_setting_get_float)          \
	X(config_setting_get_bool) X(config_setting_get_string) X(config_setting_length)           \
	X(config_setting_get_elem) X(config_setting_get_member)
#define DL_XML_SYMBOLS(X)                                                                          \
	X(xmlReadMemory) X(xmlFreeDoc) X(xmlDocGetRootElement) X(xmlGetLastError)                  \
	X(xmlXPathNewContext) X(xmlXPathFreeContext) X(xmlXPathEvalExpression) X(xmlXPathFreeObject) \
	X(xmlXPathRegisterNs)
#define DL_KMOD_SYMBOLS(X)                                                                         \
	X(kmod_new) X(kmod_set_log_fn) X(kmod_module_new_from_lookup) X(kmod_module_get_module)    \
	X(kmod_module_unref) X(kmod_module_unref_list) X(kmod_list_next)                           \
	X(kmod_module_probe_insert_module) X(kmod_module_get_name) X(kmod_module_get_dependencies)
#define DL_VIRT_SYMBOLS(X)                                                                         \
	X(virConnectOpenReadOnly) X(virConnectClose) X(virDomainLookupByName)                      \
	X(virDomainGetXMLDesc) X(virDomainFree) X(virSetErrorFunc) X(virGetLastErrorMessage)
#define DL_BUS_SYMBOLS(X)                                                                          \
	X(sd_bus_open_system) X(sd_bus_new) X(sd_bus_set_address) X(sd_bus_start) X(sd_bus_set_bus_client)                 \
	X(sd_bus_flush_close_unref) X(sd_bus_call_method) X(sd_bus_message_unref)                 \
	X(sd_bus_message_read) X(sd_bus_error_free) X(sd_bus_match_signal) X(sd_bus_slot_unref)   \
	X(sd_bus_process) X(sd_bus_wait) X(sd_bus_get_property_string) X(sd_bus_message_new_method_call) \
	X(sd_bus_message_append) X(sd_bus_message_open_container) X(sd_bus_message_close_container) \
	X(sd_bus_message_append_array) X(sd_bus_call) X(sd_bus_get_property) X(sd_bus_message_read_array) \
	X(sd_bus_message_enter_container) X(sd_bus_message_exit_container) X(sd_bus_error_has_name)    \
	X(sd_bus_message_get_sender) X(sd_bus_is_bus_client)

DL_CONFIG_SYMBOLS(DLSYM_DECLARE)
DL_XML_SYMBOLS(DLSYM_DECLARE)
DL_KMOD_SYMBOLS(DLSYM_DECLARE)
DL_VIRT_SYMBOLS(DLSYM_DECLARE)
DL_BUS_SYMBOLS(DLSYM_DECLARE)

int dlopen_libconfig(void);
int dlopen_libxml2(void);
int dlopen_libkmod(void);
int dlopen_libvirt(void);
int dlopen_sdbus(void);
