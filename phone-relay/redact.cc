#include "phone-relay/redact.h"

#include <algorithm>
#include <cctype>

namespace accel {
namespace relay {

namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Case-insensitive find of a lower-case `needle`.
size_t FindNoCase(std::string_view hay, std::string_view needle, size_t from = 0) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && Lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// Where a quoted canonical request or string to sign begins. AWS services
// word it differently (JSON services in prose, S3/IAM-style XML in elements).
constexpr std::string_view kSigningMarkers[] = {
    "the canonical string for this request",
    "the string-to-sign",
    "the string to sign",
    "<canonicalrequest",
    "<stringtosign",
    "canonical request:",
    "string to sign:",
    "canonicalrequest:",
    "stringtosign:",
};

// Names whose value is a secret (lower case). Matched when followed by ':' or
// '=' (quotes and spaces around allowed), so prose such as "the signature you
// provided" is left alone.
constexpr std::string_view kSecretNames[] = {
    "x-amz-security-token",
    "x-amz-signature",
    "sessiontoken",
    "session_token",
    "securitytoken",
    "security_token",
    "secretaccesskey",
    "secret_access_key",
    "secretkey",
    "secret_key",
    "signature",
    "aws_session_token",
    "aws_secret_access_key",
    "refresh_token",
    "refreshtoken",
    "access_token",
    "accesstoken",
    "id_token",
    "idtoken",
};

bool IsValueDelimiter(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '&' ||
         c == ',' || c == ';' || c == '<' || c == '>' || c == ')' || c == '}' || c == ']';
}

bool IsBase64Char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
}

std::string CutSigningMaterial(std::string_view text) {
  size_t cut = std::string_view::npos;
  for (std::string_view m : kSigningMarkers) cut = std::min(cut, FindNoCase(text, m));
  if (cut == std::string_view::npos) return std::string(text);
  std::string out(text.substr(0, cut));
  while (!out.empty() && (std::isspace(static_cast<unsigned char>(out.back())) ||
                          out.back() == '\'' || out.back() == '<'))
    out.pop_back();
  if (!out.empty()) out += ' ';
  out += "[canonical request and string to sign removed]";
  return out;
}

void RedactNamedValues(std::string* s) {
  for (std::string_view name : kSecretNames) {
    size_t pos = 0;
    while ((pos = FindNoCase(*s, name, pos)) != std::string::npos) {
      size_t i = pos + name.size();
      // Part of a longer identifier ("signatures", "my_secret_keyring"): skip.
      if (i < s->size() && (std::isalnum(static_cast<unsigned char>((*s)[i])) || (*s)[i] == '_')) {
        pos = i;
        continue;
      }
      bool separator = false;
      while (i < s->size() && i - pos - name.size() < 6 &&
             ((*s)[i] == ':' || (*s)[i] == '=' || (*s)[i] == '"' || (*s)[i] == '\'' ||
              (*s)[i] == ' ' || (*s)[i] == '\t')) {
        separator = separator || (*s)[i] == ':' || (*s)[i] == '=';
        ++i;
      }
      size_t end = i;
      while (end < s->size() && !IsValueDelimiter((*s)[end])) ++end;
      if (!separator || end == i || s->compare(i, end - i, kRedacted) == 0) {
        pos = i;
        continue;
      }
      s->replace(i, end - i, kRedacted);
      pos = i + kRedacted.size();
    }
  }
}

void RedactTokenShapedRuns(std::string* s) {
  std::string out;
  out.reserve(s->size());
  size_t i = 0;
  while (i < s->size()) {
    if (!IsBase64Char((*s)[i])) {
      out += (*s)[i++];
      continue;
    }
    size_t j = i;
    bool upper = false, lower = false, digit = false;
    while (j < s->size() && IsBase64Char((*s)[j])) {
      unsigned char c = static_cast<unsigned char>((*s)[j]);
      upper = upper || std::isupper(c);
      lower = lower || std::islower(c);
      digit = digit || std::isdigit(c);
      ++j;
    }
    if (j - i >= 40 && upper && lower && digit)
      out += kRedacted;
    else
      out.append(*s, i, j - i);
    i = j;
  }
  *s = std::move(out);
}

std::string UriEncode(std::string_view v) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

void ReplaceAll(std::string* s, std::string_view what) {
  size_t pos = 0;
  while ((pos = s->find(what, pos)) != std::string::npos) {
    s->replace(pos, what.size(), kRedacted);
    pos += kRedacted.size();
  }
}

}  // namespace

std::string ScrubSecrets(std::string_view text) {
  std::string s = CutSigningMaterial(text);
  RedactNamedValues(&s);
  RedactTokenShapedRuns(&s);
  return s;
}

void ScrubKnownSecrets(std::string* text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view secret : secrets) {
    if (secret.size() < 8) continue;
    ReplaceAll(text, secret);
    std::string enc = UriEncode(secret);
    if (enc != secret) ReplaceAll(text, enc);
  }
}

}  // namespace relay
}  // namespace accel
