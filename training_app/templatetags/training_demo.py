"""The home page's demo card; a tag, so the platform core's home view needs nothing of training."""

from django import template

from training_app.demo import demo_offer

register = template.Library()


@register.inclusion_tag("training/_demo_offer.html", takes_context=True)
def demo_job_offer(context, org):
    return {
        "offer": demo_offer(org) if org else None,
        "can_write": context.get("can_write"),
        "request": context.get("request"),
    }
