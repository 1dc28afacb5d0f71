from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = "Model inventory"

    def ready(self):
        from apps.audit import links

        from . import links as inventory_links

        links.register("inventory.registeredmodel", inventory_links.model_urls)
        links.register("inventory.modelversion", inventory_links.version_urls)
        links.register("inventory.environment", lambda ids: {})
