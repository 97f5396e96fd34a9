"""One module per Inception family; importing this package registers all of them.

The import order is the order ``incprof list`` shows: networks by year, then blocks,
then factorization variants.
"""

# isort: off
from incprof.models import googlenet  # noqa: F401  (imported for its registrations)
from incprof.models import bn_inception  # noqa: F401
from incprof.models import inception_v3  # noqa: F401
from incprof.models import inception_v2_rethinking  # noqa: F401
from incprof.models import inception_v4  # noqa: F401
from incprof.models import inception_resnet  # noqa: F401
from incprof.models import blocks  # noqa: F401
from incprof.models import factorization  # noqa: F401
# isort: on
