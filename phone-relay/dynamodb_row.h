// The DynamoDB item of one (identity, device, second), as request JSON built
// with string appends (no JSON DOM: the earlier prototype spent most of its
// CPU serialising DOMs). docs/dynamodb-row.md is the normative layout:
//
//   id (S)  identity id (partition key)
//   t  (N)  "S.ssssss": epoch second S plus a per-device slot in the
//           fractional part (sort key), so two devices of one identity never
//           collide in one second and floor(t) is still the second
//   d  (S)  device id            n (N) sample count
//   s  (B)  sample block (docs/row-format.md)
//   r  (N)  resolution in g      f (N) format version
//   b  (NS) contributing batch seqs
//   v  (N)  item version (conditional writes of the merge path)
#ifndef ACCEL_PHONE_RELAY_DYNAMODB_ROW_H_
#define ACCEL_PHONE_RELAY_DYNAMODB_ROW_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace accel {
namespace relay {

// Version of the item layout written to `f`.
inline constexpr int kRowFormatVersion = 1;
// BatchWriteItem accepts at most this many put requests.
inline constexpr size_t kMaxBatchWriteItems = 25;

// 1 + (FNV-1a-64(device_id) mod 999999): in [1, 999999], never 0, so t is never
// an integer and a device's slot is stable forever.
uint32_t DeviceSlot(std::string_view device_id);
// Exact decimal text of second + slot * 1e-6: "1657533977.004211".
std::string SortKeyText(int64_t second, uint32_t slot);
void AppendSortKeyText(int64_t second, uint32_t slot, std::string* out);
// Inverse: second and slot from the text, also in DynamoDB's normalised form
// (trailing zeros dropped: "1700000000.00508"); the error names the text.
Status ParseSortKey(std::string_view text, int64_t* second, uint32_t* slot);

// Shortest fixed-point decimal that reads back to exactly `v` ("0.00006103515625").
std::string ExactDecimal(double v);
void AppendExactDecimal(double v, std::string* out);

// Standard base64 (RFC 4648, with padding).
void AppendBase64(std::string_view in, std::string* out);
Status DecodeBase64(std::string_view in, std::string* out);

// The attribute values of one item. The strings are views (no copy per row):
// what they point at must outlive the item.
struct RowItem {
  std::string_view identity_id;
  std::string_view device_id;
  int64_t second = 0;
  uint32_t count = 0;
  std::string_view block;  // raw bytes (base64-encoded on output)
  double resolution_g = 0;
  const std::vector<uint64_t>* seqs = nullptr;  // non-empty
  int64_t version = 1;
};

// Appends the item's attribute map: {"id":{"S":..},"t":{"N":..},...}.
void AppendItemJson(const RowItem& item, std::string* out);
// The item's size as DynamoDB bills it (attribute names + values; numbers at
// 1 byte per 2 significant digits + 1). One write unit covers 1024 bytes.
size_t ItemSizeBytes(const RowItem& item);

// GetItem body for the row's key, consistent read:
// {"TableName":..,"Key":{"id":{"S":..},"t":{"N":..}},"ConsistentRead":true}.
std::string GetItemBody(std::string_view table, std::string_view identity_id,
                        std::string_view device_id, int64_t second);
// PutItem body for `item`, conditional on the stored version: with
// `expected_version` < 0 "attribute_not_exists(v)", else "v = :old".
std::string ConditionalPutBody(std::string_view table, const RowItem& item,
                               int64_t expected_version);

// A BatchWriteItem body: {"RequestItems":{"<table>":[{"PutRequest":{"Item":..}},..]}}.
class BatchWriteBody {
 public:
  explicit BatchWriteBody(std::string_view table);
  void Add(const RowItem& item);
  size_t size() const { return items_; }
  // Closes the JSON and returns it; Clear() before building the next body
  // (the buffer's capacity is kept).
  const std::string& Finish();
  void Clear();

 private:
  std::string table_;
  std::string body_;
  size_t items_ = 0;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_DYNAMODB_ROW_H_
