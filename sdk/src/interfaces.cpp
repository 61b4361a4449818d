// Out-of-line virtual destructors: they anchor the vtables and type information of the
// SDK interfaces in one place.
#include <ballista/context.hpp>
#include <ballista/model.hpp>
#include <ballista/source.hpp>

BALLISTA_NAMESPACE_BEGIN

Context::~Context() = default;
Model::~Model() = default;
Source::~Source() = default;

BALLISTA_NAMESPACE_END
