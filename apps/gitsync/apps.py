from django.apps import AppConfig


class GitsyncConfig(AppConfig):
    name = "apps.gitsync"
    label = "gitsync"
    verbose_name = "Git sync"

    def ready(self):
        from apps.audit import links

        from . import links as gitsync_links

        links.register("gitsync.gitrepository", gitsync_links.repository_urls)
