// One complete HTTP request in memory, handed to cpp-httplib's request processing as its
// Stream, and the answer it writes collected in memory: how httplib routes a request the
// front door has already read in full, without touching a socket (and how the tests compare
// our own answers with httplib's, byte for byte).
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "api/api_connection.hpp"

namespace pushgate::api {

class MemoryExchange final : public httplib::Stream {
 public:
  MemoryExchange(std::string request, Peer peer) : in_(std::move(request)), peer_(std::move(peer)) {}
  bool is_readable() const override { return at_ < in_.size(); }
  bool is_writable() const override { return true; }
  // 0 past the request: httplib takes it as the peer's end. It never waits.
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, in_.size() - at_);
    std::memcpy(ptr, in_.data() + at_, n);
    at_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.ip;
    port = peer_.port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.local_ip;
    port = peer_.local_port;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& output() const { return out_; }
  std::string take_output() { return std::move(out_); }

 private:
  std::string in_;
  std::size_t at_ = 0;
  Peer peer_;
  std::string out_;
};

}  // namespace pushgate::api
