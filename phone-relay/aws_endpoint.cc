#include "phone-relay/aws_endpoint.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

namespace accel {
namespace relay {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Pick(const std::string& override_value, const EnvLookup& env,
                 std::initializer_list<const char*> names, std::string* source) {
  if (!override_value.empty()) {
    *source = "config";
    return override_value;
  }
  for (const char* n : names) {
    const char* v = env(n);
    if (v != nullptr && *v != '\0') {
      *source = n;
      return v;
    }
  }
  return "";
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = Lower(host);
  if (h == "localhost" || h == "::1") return true;
  in_addr a{};
  if (inet_pton(AF_INET, h.c_str(), &a) == 1) {
    return (ntohl(a.s_addr) >> 24) == 127;
  }
  return false;
}

Result<AwsEndpoint> ResolveDynamoDbEndpoint(const EndpointOverrides& o, const EnvLookup& env) {
  AwsEndpoint ep;
  std::string region_src, url_src, ca_src;
  ep.region = Pick(o.region, env, {"AWS_REGION", "AWS_DEFAULT_REGION"}, &region_src);
  if (ep.region.empty()) {
    return Status::InvalidArgument(
        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or the config's region");
  }
  for (char c : ep.region) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return Status::InvalidArgument(region_src + ": region '" + ep.region +
                                     "' is not of the form 'us-east-1'");
    }
  }
  std::string url =
      Pick(o.endpoint_url, env, {"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"}, &url_src);
  if (url.empty()) {
    url = "https://dynamodb." + ep.region + ".amazonaws.com";
    url_src = "default endpoint";
  }
  while (!url.empty() && url.back() == '/') url.pop_back();

  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return Status::InvalidArgument(url_src + ": endpoint '" + url + "' has no scheme (http/https)");
  }
  std::string scheme = Lower(url.substr(0, scheme_end));
  if (scheme != "https" && scheme != "http") {
    return Status::InvalidArgument(url_src + ": endpoint '" + url +
                                   "': scheme must be https (or http for loopback)");
  }
  ep.https = scheme == "https";
  std::string rest = url.substr(scheme_end + 3);
  if (rest.find_first_of("/?#@") != std::string::npos) {
    return Status::InvalidArgument(url_src + ": endpoint '" + url +
                                   "' must be scheme://host[:port] without path, query or user");
  }
  std::string host = rest;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) {
      return Status::InvalidArgument(url_src + ": endpoint '" + url + "': unterminated [IPv6]");
    }
    std::string after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty() && after[0] != ':') {
      return Status::InvalidArgument(url_src + ": endpoint '" + url + "': junk after ]");
    }
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string::npos) {
      std::string port = host.substr(colon + 1);
      if (port.empty() || port.size() > 5 ||
          port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
          std::stoi(port) > 65535) {
        return Status::InvalidArgument(url_src + ": endpoint '" + url + "': bad port '" + port +
                                       "'");
      }
      host = host.substr(0, colon);
    }
  }
  if (host.empty()) {
    return Status::InvalidArgument(url_src + ": endpoint '" + url + "' has no host");
  }
  ep.host = Lower(host);
  if (!ep.https && !IsLoopbackHost(ep.host)) {
    return Status::InvalidArgument(url_src + ": endpoint '" + url +
                                   "': plain http is only allowed to loopback hosts; use https");
  }
  ep.url = scheme + "://" + rest;

  ep.ca_bundle = Pick(o.ca_bundle, env, {"AWS_CA_BUNDLE"}, &ca_src);
  if (!ep.ca_bundle.empty() && access(ep.ca_bundle.c_str(), R_OK) != 0) {
    return Status::InvalidArgument(ca_src + ": CA bundle '" + ep.ca_bundle + "' is not readable");
  }
  return ep;
}

}  // namespace relay
}  // namespace accel
