// Records written in the background (see throttled_records.hpp).
#include "throttled_records.hpp"

#include <utility>

namespace ballista::host {

ThrottledRecords::ThrottledRecords(RunDirectoryWriter& writer, std::chrono::milliseconds interval,
                                   std::size_t large)
    : writer_(writer), interval_(interval), large_(large), thread_([this] { loop(); }) {}

ThrottledRecords::~ThrottledRecords() { stop(); }

void ThrottledRecords::offer(RecordsSnapshot snapshot) {
  std::size_t size = snapshot.document.size();
  for (const auto& entry : snapshot.json_entries) {
    size += entry->size();
  }
  for (const auto& rows : snapshot.csv_rows) {
    size += rows->size();
  }
  {
    const std::lock_guard lock(mutex_);
    if (failure_) {
      std::rethrow_exception(failure_);
    }
    if (size >= large_) {
      waiting_ = std::move(snapshot);
      wake_.notify_one();
      return;
    }
    waiting_.reset();  // older than this one
  }
  const std::lock_guard writing(writing_);
  writer_.write_metrics(snapshot.json(), snapshot.csv());
}

void ThrottledRecords::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ThrottledRecords::loop() {
  std::unique_lock lock(mutex_);
  std::optional<std::chrono::steady_clock::time_point> last_write;
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || waiting_.has_value(); });
    if (last_write && wake_.wait_until(lock, *last_write + interval_, [&] { return stopping_; })) {
      return;
    }
    if (stopping_) {
      return;
    }
    if (!waiting_) {
      continue;  // offer() wrote a newer, small one itself
    }
    const auto snapshot = std::move(*waiting_);
    waiting_.reset();
    // Taken before letting offer() go on: a newer snapshot it writes lands after this.
    std::unique_lock writing(writing_);
    lock.unlock();
    try {
      writer_.write_metrics(snapshot.json(), snapshot.csv());
    } catch (...) {
      writing.unlock();
      lock.lock();
      failure_ = std::current_exception();
      return;
    }
    writing.unlock();
    last_write = std::chrono::steady_clock::now();
    lock.lock();
  }
}

}  // namespace ballista::host
