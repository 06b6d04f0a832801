// ClientCaller: the uploader's DynamoDbCaller on top of DynamoDbClient (its
// Call() signs with our SigV4 signer and applies the client's retry rules).
// One per request in flight: a DynamoDbClient is driven by one thread.
#ifndef ACCEL_PHONE_RELAY_CLIENT_CALLER_H_
#define ACCEL_PHONE_RELAY_CLIENT_CALLER_H_

#include <memory>
#include <string>
#include <utility>

#include "phone-relay/dynamodb_client.h"
#include "phone-relay/uploader.h"

namespace accel {
namespace relay {

class ClientCaller : public DynamoDbCaller {
 public:
  explicit ClientCaller(std::unique_ptr<DynamoDbClient> client) : client_(std::move(client)) {}
  Result<std::string> Call(const std::string& target, std::string body) override {
    return client_->Call(target, std::move(body));
  }
  DynamoDbClient* client() { return client_.get(); }

 private:
  std::unique_ptr<DynamoDbClient> client_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_CLIENT_CALLER_H_
