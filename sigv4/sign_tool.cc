// sigv4-sign: sign a request described in JSON (the input format of tests/sigv4/reference/botocore_sign.py)
// with our signer and print the same fields the oracle prints, for diffing a SignatureDoesNotMatch:
//
//   sigv4-sign < req.json > ours.json; tests/sigv4/reference/botocore_sign.py < req.json > theirs.json
//
// One object in -> one object out; an array in -> an array out. A request that cannot be signed
// gives
// {"error": "..."} in its place and exit status 1.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "sigv4/signer.h"
#include "sigv4/tool/request_json.h"

int main(int argc, char** argv) {
  if (argc > 1) {
    const bool help = std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0;
    std::fprintf(
        help ? stdout : stderr,
        "usage: sigv4-sign < request.json\n"
        "Reads the JSON request of tests/sigv4/reference/botocore_sign.py (object or array) on stdin\n"
        "and prints canonical_request, string_to_sign, signature, authorization,\n"
        "signed_headers, credential_scope, payload_hash, amz_date, headers, host_signed.\n"
        "Extra input keys: payload_hash, sign_session_token, presign_expires.\n");
    return help ? 0 : 2;
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  nlohmann::json in = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded()) {
    std::fprintf(stderr, "sigv4-sign: stdin is not valid JSON\n");
    return 2;
  }
  accel::sigv4::Signer signer;
  bool failed = false;
  auto one = [&](const nlohmann::json& req) {
    nlohmann::json out;
    accel::sigv4::Status s = accel::sigv4::SignJsonRequest(req, &signer, &out);
    if (!s.ok()) {
      failed = true;
      return nlohmann::json{{"error", s.message()}};
    }
    return out;
  };
  nlohmann::json result;
  if (in.is_array()) {
    result = nlohmann::json::array();
    for (const auto& req : in) result.push_back(one(req));
  } else {
    result = one(in);
  }
  std::cout << result.dump(2, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return failed ? 1 : 0;
}
