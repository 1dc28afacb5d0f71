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

        from apps.audit import scopes

        from .models import Environment, RegisteredModel

        scopes.register("model", lambda user: RegisteredModel.objects.restrict(user).values_list("pk", "name"))
        scopes.register("environment", lambda user: Environment.objects.values_list("pk", "name"))
