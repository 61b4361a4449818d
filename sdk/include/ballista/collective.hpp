// The processes one data-parallel fit is spread over: each rank holds a share of the
// training rows, and a fit combines what the shares say through a Collective (sums of
// gradients or sufficient statistics, gathers of factors) so that every rank ends with
// the model the whole data would give. The host forms it (c10d: Gloo, and NCCL for CUDA
// tensors in a CUDA build) and hands it to a model through Context::collective();
// plugins never link c10d themselves.
#pragma once

#include <ballista/version.hpp>

#include <torch/types.h>

#include <vector>

BALLISTA_NAMESPACE_BEGIN

// Every rank must make the same calls, in the same order, with tensors of the same
// shapes and dtypes; a call waits for the others (up to the run's --timeout, then it
// throws std::runtime_error, as it does when another rank has died). Tensors are of a
// floating-point dtype, on the CPU or on the rank's GPU (Context::device()): the host
// sums CPU tensors through Gloo and CUDA tensors through NCCL.
class BALLISTA_API Collective {
 public:
  Collective() = default;
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;
  virtual ~Collective();

  // This process's rank, 0 ≤ rank < size(); rank 0 is the one that writes the results.
  virtual int rank() const = 0;
  // How many processes share the fit.
  virtual int size() const = 0;
  // Overwrites each tensor, in place, with its element-wise sum over the ranks; all
  // ranks end with the same bits. The list travels as one message (a coalesced all-reduce), so pass
  // everything a step needs in one call.
  virtual void sum(std::vector<torch::Tensor>& tensors) = 0;
  // Every rank's `tensor`, in rank order (contiguous copies).
  virtual std::vector<torch::Tensor> gather(const torch::Tensor& tensor) = 0;
};

// The collective of a process alone: rank 0 of 1; sum() leaves the tensors as they are
// and gather() returns {tensor}. What Context::collective() answers unless the host runs
// the fit on several processes.
BALLISTA_API Collective& single_process();

// The sum over the ranks of a count each rank holds (rows of its share, say).
BALLISTA_API std::int64_t total_over_ranks(Collective& collective, std::int64_t count);

BALLISTA_NAMESPACE_END
