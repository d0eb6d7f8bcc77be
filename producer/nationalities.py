"""The nationalities the randomuser API serves, with how it shapes each one's fields.

Plain data, apart from Faker: `config` validates `--nat` against it without importing Faker,
and `fake` builds its users from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Nationality:
    """How the API shapes one nationality's fields (from the captured responses)."""

    country: str
    locale: str
    id_name: str  # "" with a null value for IR, NZ, TR, UA, like the API
    id_pattern: str | None  # '#' digit, '?' capital letter
    postcode: str  # '#' digits give an int; "text" takes the locale's postcode as a string
    titles: tuple[tuple[str, ...], tuple[str, ...]] = (("Mr",), ("Ms", "Mrs", "Miss"))
    states: tuple[str, ...] = ()  # where the Faker locale has no states


NATIONALITIES: dict[str, Nationality] = {
    "AU": Nationality("Australia", "en_AU", "TFN", "#########", "####"),
    "BR": Nationality("Brazil", "pt_BR", "CPF", "###.###.###-##", "#####"),
    "CA": Nationality("Canada", "en_CA", "SIN", "#########", "text"),
    "CH": Nationality(
        "Switzerland",
        "de_CH",
        "AVS",
        "756.####.####.##",
        "####",
        titles=(("Monsieur",), ("Madame", "Mademoiselle")),
    ),
    "DE": Nationality("Germany", "de_DE", "SVNR", "## ###### ? ###", "#####"),
    "DK": Nationality("Denmark", "da_DK", "CPR", "######-####", "####"),
    "ES": Nationality("Spain", "es_ES", "DNI", "########-?", "#####"),
    "FI": Nationality("Finland", "fi_FI", "HETU", "######-###?", "#####"),
    "FR": Nationality("France", "fr_FR", "INSEE", "############# ##", "#####"),
    "GB": Nationality("United Kingdom", "en_GB", "NINO", "?? ## ## ## ?", "text"),
    "IE": Nationality("Ireland", "en_IE", "PPS", "#######?", "#####"),
    "IN": Nationality("India", "en_IN", "UIDAI", "############", "######"),
    "IR": Nationality("Iran", "fa_IR", "", None, "#####"),
    "MX": Nationality("Mexico", "es_MX", "NSS", "## ## ## #### #", "#####"),
    "NL": Nationality("Netherlands", "nl_NL", "BSN", "########", "####"),
    "NO": Nationality(
        "Norway",
        "no_NO",
        "FN",
        "###########",
        "text",
        states=("Akershus", "Buskerud", "Hordaland", "Nordland", "Oppland", "Rogaland", "Troms"),
    ),
    "NZ": Nationality(
        "New Zealand",
        "en_NZ",
        "",
        None,
        "####",
        states=(
            "Auckland",
            "Canterbury",
            "Hawke'S Bay",
            "Nelson",
            "Otago",
            "Waikato",
            "Wellington",
        ),
    ),
    "RS": Nationality("Serbia", "hr_HR", "SID", "#########", "#####"),  # Faker has no sr_RS
    "TR": Nationality(
        "Turkey",
        "tr_TR",
        "",
        None,
        "#####",
        states=("Adana", "Ankara", "Antalya", "Bursa", "İstanbul", "İzmir", "Kocaeli", "Konya"),
    ),
    "UA": Nationality("Ukraine", "uk_UA", "", None, "#####"),
    "US": Nationality("United States", "en_US", "SSN", "###-##-####", "#####"),
}
