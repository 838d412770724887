from django import forms

from llm_platform.models import ApiKey, Scope


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
