"""What the pages say and in which language: the strings the page scripts and the error page show, the
languages spoken, and the one an Accept-Language header prefers."""

from __future__ import annotations

from login.errors import InvalidTransition, LoginError, NotFound, SessionNotFound, StorageUnavailable

#: the languages the pages speak: locale code -> its name in that language
LANGUAGES = {"en_US": "English", "zh_CN": "简体中文", "zh_TW": "繁體中文"}
#: the language of a browser that asks for none we speak
DEFAULT_LANGUAGE = "en_US"
#: the regions that write Chinese in Traditional characters (Taiwan, Hong Kong, Macau); a tag may
#: also name the script ("zh-Hant", "zh-Hans-HK").  Tornado's own matching gives these English.
TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})

#: the strings login.js shows; keys are what the script asks for, values are translated per request
LOGIN_TEXTS = {
    "waiting": "Open {app} on your phone and scan this code to log in.",
    "expires_in": "Expires in {time}",
    "expired": "This code has expired. Getting a new one…",
    "scanned": "Scanned by {name}",
    "confirm_on_phone": "Confirm the login on your phone.",
    "logging_in": "Logging in…",
    "logged_in": "Logged in as {name}",
    "done": "You are logged in on this computer. You can close this page.",
    "going_on": "Taking you to {app}…",
    "denied": "Login cancelled on the phone.",
    "idle": "The code expired. Get a new one when you are ready.",
    "failed": "The login could not be completed.",
    "offline": "Connection lost. Retrying…",
    "picture_of": "Picture of {name}",
}
#: the strings phone.js shows
PHONE_TEXTS = {
    "checking": "Checking…",
    "ask": "Log in on this computer as {name}?",
    "browser_on_os": "{browser} on {os}",
    "browser_only": "{browser} on an unknown system",
    "os_only": "An unknown browser on {os}",
    "unknown": "Unknown browser and system",
    "not_given": "unknown",
    "confirmed": "Done: you are logged in on the computer.",
    "denied": "Login cancelled. Nobody was logged in.",
    "session_not_found": "This code has expired. Ask for a new code on the computer and scan it again.",
    "invalid_state": "This code was already used or cancelled.",
    "user_mismatch": "This code was scanned by another account.",
    "invalid_token": "Your sign-in was not accepted. Open the link again from {app}.",
    "missing_credential": "Open this link with {app} to log in.",
    "failed": "Something went wrong. Try again.",
}
#: what the error page tells a person, per error class; anything else reads as a generic failure
ERROR_TEXTS: dict[type[LoginError], tuple[str, str]] = {
    SessionNotFound: ("This code has expired", "Ask for a new code on the computer and scan it again."),
    InvalidTransition: ("This code was already used", "Ask for a new code on the computer if you want to log in."),
    NotFound: ("Page not found", "There is nothing at this address."),
    StorageUnavailable: ("Service busy", "The service cannot be reached right now. Try again shortly."),
}
FAILURE_TEXT = ("Something went wrong", "The page could not be shown. Try again shortly.")


def browser_language(accept_language: str) -> str:
    """The language we speak that an Accept-Language header prefers most."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, index, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break  # q=0: "not this one", and nothing after it is wanted either
        language, *subtags = tag.split("-")
        if language == "zh":
            return "zh_TW" if _traditional(subtags) else "zh_CN"
        if language == "en":
            return "en_US"
    return DEFAULT_LANGUAGE


def _traditional(subtags: list[str]) -> bool:
    if "hans" in subtags:
        return False
    return "hant" in subtags or not TRADITIONAL_REGIONS.isdisjoint(subtags)


__all__ = [
    "DEFAULT_LANGUAGE",
    "ERROR_TEXTS",
    "FAILURE_TEXT",
    "LANGUAGES",
    "LOGIN_TEXTS",
    "PHONE_TEXTS",
    "browser_language",
]
