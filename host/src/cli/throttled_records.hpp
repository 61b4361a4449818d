// metrics.json and metrics.csv of a run in progress: written at once while they are
// small, then, once they are large, from a background thread at most once per interval,
// so that a run keeps what finished without rewriting both files after every model of a
// large sweep: the texts grow with the models, and a 1000-model sweep spent 6.1 s of
// its 9.6 s rewriting them (quadratic in the sweep's size).
#pragma once

#include "run_directory.hpp"
#include "run_report.hpp"

#include <chrono>
#include <cstddef>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace ballista::host {

class ThrottledRecords {
 public:
  // Writes through `writer`, which must outlive this. Records of fewer than `large`
  // bytes (both texts) are written before offer() returns.
  ThrottledRecords(RunDirectoryWriter& writer, std::chrono::milliseconds interval, std::size_t large);
  ThrottledRecords(const ThrottledRecords&) = delete;
  ThrottledRecords& operator=(const ThrottledRecords&) = delete;
  ~ThrottledRecords();

  // Hands over the newest records. Small ones are written before it returns (a crash
  // right after loses nothing). Large ones are left to the thread, which writes them
  // at once if `interval` has passed since its last write and otherwise when it has (a
  // newer snapshot replaces one still waiting), so they are on disk within about
  // `interval` whatever the run does next. Throws what a write threw (a full disk).
  void offer(RecordsSnapshot snapshot);
  // Ends the thread once a write under way is done; a snapshot still waiting is dropped
  // (the caller writes the final records next). Also what the destructor does.
  void stop();

 private:
  void loop();

  RunDirectoryWriter& writer_;
  std::chrono::steady_clock::duration interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<RecordsSnapshot> waiting_;
  bool stopping_ = false;
  std::size_t large_;
  std::mutex writing_;  // held while writing, so an older snapshot never lands after a newer one
  std::exception_ptr failure_;
  std::thread thread_;  // last: started once the rest is set
};

}  // namespace ballista::host
