from dataclasses import dataclass


class ActorKind:
    USER = "user"
    TOKEN = "token"  # noqa: S105 — an actor kind, not a secret
    SYSTEM = "system"
    CHOICES = [(USER, "User"), (TOKEN, "Service token"), (SYSTEM, "System")]


@dataclass(frozen=True)
class Actor:
    """Who did it: a person, a service token, or a named system principal — never anonymous."""

    user: object | None
    label: str
    kind: str

    @classmethod
    def of(cls, user) -> "Actor":
        if user is None or not getattr(user, "is_authenticated", False):
            raise ValueError("An actor must be an authenticated user; use Actor.system() for the system.")
        token = getattr(user, "api_token", None)  # set by the API's token authentication for this request
        if token is not None:
            return cls(user=user, label=f"{user.get_username()} (token {token.prefix})", kind=ActorKind.TOKEN)
        return cls(user=user, label=user.get_username(), kind=ActorKind.USER)

    @classmethod
    def system(cls, name: str) -> "Actor":
        if not name:
            raise ValueError("A system actor needs a name, e.g. 'git-sync'.")
        return cls(user=None, label=name, kind=ActorKind.SYSTEM)
