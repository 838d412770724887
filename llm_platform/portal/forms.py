from django import forms
from django.contrib.auth import get_user_model

from llm_platform.members import ASSIGNABLE_CHOICES
from llm_platform.models import SLUG_VALIDATOR, ApiKey, Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="What the key is for, e.g. 'CI pipeline'."
    )
    role = forms.ChoiceField(choices=ApiKey._meta.get_field("role").choices, initial="member")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        required=False,
        initial=Scope.values,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: all the access allows. A read-only key may only read.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(required=False, help_text="Optional: the link is emailed when email is set up.")
    role = forms.ChoiceField(choices=ASSIGNABLE_CHOICES, initial="member")


class NewOrganizationForm(forms.Form):
    slug = forms.CharField(
        max_length=50, validators=[SLUG_VALIDATOR], help_text="Lowercase letters, digits, '-'."
    )
    name = forms.CharField(max_length=200, required=False)
    owner = forms.CharField(max_length=150, required=False, help_text="Username of the owner (blank: you).")

    def __init__(self, *args, staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not staff:
            del self.fields["owner"]

    def clean_owner(self):
        username = self.cleaned_data.get("owner", "").strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user named {username!r}.")
        return user
