// The single-process collective and the helpers every Collective shares (collective.hpp).
#include <ballista/collective.hpp>

#include <torch/torch.h>

BALLISTA_NAMESPACE_BEGIN

Collective::~Collective() = default;

namespace {

class SingleProcess final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::vector<torch::Tensor>& /*tensors*/) override {}
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor) override { return {tensor.contiguous()}; }
};

}  // namespace

Collective& single_process() {
  static SingleProcess alone;
  return alone;
}

std::int64_t total_over_ranks(Collective& collective, std::int64_t count) {
  if (collective.size() == 1) {
    return count;
  }
  // float64 holds every count below 2⁵³ exactly.
  std::vector<torch::Tensor> total{torch::full({1}, static_cast<double>(count), torch::kFloat64)};
  collective.sum(total);
  return static_cast<std::int64_t>(total[0].item<double>());
}

BALLISTA_NAMESPACE_END
