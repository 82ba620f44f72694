"""The least a Django project served by rsgi needs."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "change-me-in-production")
DEBUG = False
ALLOWED_HOSTS = ["example.com", "localhost", "127.0.0.1"]

INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

# `manage.py collectstatic` copies static files here; rsgi serves them
# (static-map in rsgi.ini), so Django's staticfiles app is not needed.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static"

USE_TZ = True
