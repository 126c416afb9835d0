"""Who is calling and what their place in the organisation tree lets them do.

Generic: the kernel knows identities, grants of roles on subtrees, signed tokens and one
check; which roles exist and what each may do is the application's (`RoleBook`).

* `Identity`: an account (or a service) with its `Grant`s: a role on a unit's subtree
  (None: the whole tree), valid from/until a date.
* `TokenSigner`: identities as short-lived signed tokens (JWT, HS256), carried by the
  browser's session cookie, an API client's bearer token, and every RPC's context data.
* `Access`: what a route, RPC method or command needs: a permission, and where in the
  tree its target is (`Scope`: which argument names it, and what kind of thing it is).
* `authorize`: the one check, given the target's path in the tree.
"""

from chibo.access.identity import Grant, Identity, RoleBook
from chibo.access.policy import (
    AUTHENTICATED,
    PUBLIC,
    Access,
    Locate,
    Scope,
    Unauthenticated,
    authorize,
    scope_value,
)
from chibo.access.tokens import TokenSigner

__all__ = ["AUTHENTICATED", "PUBLIC", "Access", "Grant", "Identity", "Locate", "RoleBook", "Scope",
           "TokenSigner", "Unauthenticated", "authorize", "scope_value"]
