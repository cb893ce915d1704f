/*
 * POSIX ACLs in the kernel's xattr form (system.posix_acl_access and
 * system.posix_acl_default): a 4-byte version (2) then 8-byte entries
 * {u16 tag, u16 perm, u32 id}.  The kernel checks permissions against
 * them (FUSE_CAP_POSIX_ACL); the file system keeps the mode and the ACL in
 * step and gives new files their inherited ACLs.
 */
#ifndef NVMPFS_ACL_H
#define NVMPFS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_XATTR_ACCESS "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
#define ACL_MAX_SIZE 1024 /* bytes of one ACL value we accept */

/* A well-formed ACL: version 2, the three base entries, a mask if needed. */
bool acl_valid(const void *value, size_t size);
/* The permission bits an access ACL implies (user, group-or-mask, other). */
uint32_t acl_mode_bits(const void *value, size_t size);
/* True when the ACL says no more than its mode bits (base entries only). */
bool acl_is_minimal(const void *value, size_t size);
/* chmod: sets the owner, group-or-mask and other entries from mode. */
void acl_chmod(void *value, size_t size, uint32_t mode);
/*
 * A new file under a default ACL: writes its access ACL into out (same
 * size as the default) and narrows *mode as POSIX says.  Returns true
 * when the access ACL must be stored (it says more than the mode).
 */
bool acl_inherit(const void *dflt, size_t size, uint32_t *mode, void *out);

#endif
