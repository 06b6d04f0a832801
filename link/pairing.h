// Pairing secrets: 32 random bytes shared by one watch and its relay, the
// TLS pre-shared key of the link. Stored as 64 hex digits (plus a newline) in
// a file only its owner may read; a secret file readable by group or others
// is refused, like ssh refuses such a private key.
#ifndef ACCEL_LINK_PAIRING_H_
#define ACCEL_LINK_PAIRING_H_

#include <string>

#include "common/status.h"
#include "link/tls.h"

namespace accel {
namespace link {

// Creates a fresh secret (OpenSSL RAND_bytes) at `path`, mode 0600, durably.
// Refuses to overwrite an existing file. Returns the 32 raw bytes.
Result<std::string> CreatePairingSecret(const std::string& path);

// Reads a secret written by CreatePairingSecret. PermissionDenied when the file
// is accessible by group or others, Corruption when it is not 64 hex digits.
Result<std::string> LoadPairingSecret(const std::string& path);

// The relay's key store: `<dir>/<device_id>.key`, each a pairing secret file.
// Files are read on every lookup, so pairing a device needs no restart. A
// missing, malformed or over-permissive file means "not paired" (logged).
PskLookup PskDirectory(const std::string& dir);

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_PAIRING_H_
