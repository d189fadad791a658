"""`hostname` and `domainname` (config.md "Hostname", "Domainname"): only with a new UTS
namespace, since setting them otherwise would rename the host."""
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec


def apply(spec: Spec, own_uts_ns: bool) -> None:
    for field, value, setter in (("hostname", spec.hostname, sc.sethostname),
                                 ("domainname", spec.domainname, sc.setdomainname)):
        if value is None or (value == "" and not own_uts_ns):
            continue
        if not own_uts_ns:
            raise OCIError(f"{field}: cannot set {field} without a new uts namespace")
        try:
            setter(value)
        except OSError as e:
            raise OCIError(f"{field}: {describe(e)}") from None
