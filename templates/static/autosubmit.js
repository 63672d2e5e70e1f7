// Confirmation skipped by configuration: the sign-out is still a POST, sent by this form.
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
